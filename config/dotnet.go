package config

import (
	"fmt"
	"strings"
	"time"
)

// dotNetTokens are the .NET custom date and time format specifiers QLM's
// dateFormat uses, longest first, with their Go layout equivalents.
var dotNetTokens = []struct{ net, goLayout string }{
	{"yyyy", "2006"}, {"yy", "06"},
	{"MMMM", "January"}, {"MMM", "Jan"}, {"MM", "01"}, {"M", "1"},
	{"dddd", "Monday"}, {"ddd", "Mon"}, {"dd", "02"}, {"d", "2"},
	{"HH", "15"}, {"H", "15"}, {"hh", "03"}, {"h", "3"},
	{"mm", "04"}, {"m", "4"}, {"ss", "05"}, {"s", "5"},
	{"fff", "000"}, {"ff", "00"}, {"f", "0"},
	{"tt", "PM"}, {"zzz", "-07:00"},
}

// DotNetLayout converts a .NET custom date format such as "dd/MM/yyyy" or
// "yyyy-MM-dd HH:mm:ss" into a Go time layout. Letters it does not know
// are an error rather than a layout that silently misreads dates.
func DotNetLayout(format string) (string, error) {
	var b strings.Builder
	hasYear, hasMonth, hasDay := false, false, false
	for rest := format; rest != ""; {
		c := rest[0]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(rest[1:], c)
			if end < 0 {
				return "", fmt.Errorf("%q: unclosed quote", format)
			}
			lit := rest[1 : end+1]
			if reference.Format(lit) != lit {
				// Go would read "1", "Jan" or "PM" in a layout as a date element.
				return "", fmt.Errorf("%q: the literal %q would be read as part of the date", format, lit)
			}
			b.WriteString(lit)
			rest = rest[end+2:]
			continue
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			matched := false
			for _, t := range dotNetTokens {
				if strings.HasPrefix(rest, t.net) {
					b.WriteString(t.goLayout)
					rest = rest[len(t.net):]
					hasYear = hasYear || t.net[0] == 'y'
					hasMonth = hasMonth || t.net[0] == 'M'
					hasDay = hasDay || t.net == "dd" || t.net == "d"
					matched = true
					break
				}
			}
			if !matched {
				return "", fmt.Errorf("%q: %q is not a .NET date format specifier", format, string(c))
			}
			continue
		case strings.ContainsRune("0123456789", rune(c)):
			// Go would read digits as layout elements.
			return "", fmt.Errorf("%q: digits are not allowed outside quotes", format)
		}
		b.WriteByte(c)
		rest = rest[1:]
	}
	if !hasYear || !hasMonth || !hasDay {
		return "", fmt.Errorf("%q: a date format needs a year, a month and a day", format)
	}
	// The layout must read back what it writes ("_2" before a day, for one,
	// is Go's padded day and reads nothing QLM writes).
	layout := b.String()
	if t, err := time.Parse(layout, reference.Format(layout)); err != nil || t.Format(layout) != reference.Format(layout) {
		return "", fmt.Errorf("%q: cannot be read back as a date", format)
	}
	return layout, nil
}

// reference is a date whose every element differs from Go's layout values.
var reference = time.Date(2034, 12, 28, 13, 45, 56, 0, time.UTC)
