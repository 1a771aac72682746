package qlm

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// DecodeFields decodes the names and first values of the call's order
// fields (every pair that is not an is_* argument) from the storefront's
// character set: UTF-8 when utf8 is true, else Windows-1252 (what
// ISO-8859-1 means on the web, where the euro sign is 0x80). Fields that
// claim UTF-8 but are not are read as Windows-1252 with a warning instead
// of failing the order. It reports the character set used.
func (c *Call) DecodeFields(utf8 bool) (map[string]string, bool) {
	if utf8 && !c.allUTF8() {
		utf8 = false
		c.warn("ENCODING: the fields are not valid UTF-8; read as Windows-1252")
	}
	decode := func(s string) string {
		if utf8 {
			return s
		}
		return Latin(s)
	}

	fields := make(map[string]string, len(c.fields))
	// Sorted, so that warnings come in the same order every time.
	for _, rawName := range slices.Sorted(maps.Keys(c.fields)) {
		values := c.fields[rawName]
		if rawName == "" || len(values) == 0 {
			continue
		}
		name := decode(rawName)
		if strings.IndexByte(name, 0) >= 0 {
			c.warn("%s: a field name holds a NUL byte; dropped", Label(name))
			continue
		}
		value := decode(values[0])
		for _, other := range values[1:] {
			if other != values[0] {
				c.warn("%s: given more than once; the first value is kept", Label(name))
				break
			}
		}
		if strings.IndexByte(value, 0) >= 0 {
			value = strings.ReplaceAll(value, "\x00", "")
			c.warn("%s: NUL bytes removed", Label(name))
		}
		if len(value) > MaxValueBytes {
			value = truncate(value, MaxValueBytes)
			c.warn("%s: longer than %d bytes; cut", Label(name), MaxValueBytes)
		}
		fields[name] = value
	}
	return fields, utf8
}

func (c *Call) allUTF8() bool {
	for name, values := range c.fields {
		if !utf8.ValidString(name) {
			return false
		}
		if len(values) > 0 && !utf8.ValidString(values[0]) {
			return false
		}
	}
	return true
}

// CharsetName names the character set DecodeFields read in.
func CharsetName(utf8 bool) string {
	if utf8 {
		return "UTF-8"
	}
	return "Windows-1252"
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Fold indexes fields by their upper-cased names, for storefronts whose
// names are matched without regard to case. Among case variants the first
// in sorted order wins, so the all-upper spelling is preferred and the
// result does not depend on map order.
func Fold(fields map[string]string) map[string]string {
	byUpper := make(map[string]string, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		upper := strings.ToUpper(name)
		if _, ok := byUpper[upper]; !ok {
			byUpper[upper] = fields[name]
		}
	}
	return byUpper
}
