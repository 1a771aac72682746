package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDotNetLayout(t *testing.T) {
	tests := []struct {
		format, layout string
		// sample is a date written in format; want is what it means (UTC).
		sample string
		want   time.Time
	}{
		{"yyyy-MM-dd", "2006-01-02", "2026-11-26", date(2026, 11, 26, 0, 0, 0)},
		{"dd/MM/yyyy", "02/01/2006", "26/11/2026", date(2026, 11, 26, 0, 0, 0)},
		{"MM/dd/yyyy", "01/02/2006", "11/26/2026", date(2026, 11, 26, 0, 0, 0)},
		{"d.M.yyyy", "2.1.2006", "6.3.2026", date(2026, 3, 6, 0, 0, 0)},
		{"d.M.yyyy", "2.1.2006", "26.11.2026", date(2026, 11, 26, 0, 0, 0)},
		{"dd.MM.yyyy", "02.01.2006", "06.03.2026", date(2026, 3, 6, 0, 0, 0)},
		{"M/d/yy", "1/2/06", "3/6/26", date(2026, 3, 6, 0, 0, 0)},
		{"yyyyMMdd", "20060102", "20261126", date(2026, 11, 26, 0, 0, 0)},
		{"yyyy-MM-dd HH:mm:ss", "2006-01-02 15:04:05", "2026-11-26 14:05:09", date(2026, 11, 26, 14, 5, 9)},
		{"yyyy-MM-dd H:m:s", "2006-01-02 15:4:5", "2026-11-26 9:5:7", date(2026, 11, 26, 9, 5, 7)},
		{"MM/dd/yyyy hh:mm tt", "01/02/2006 03:04 PM", "11/26/2026 02:05 PM", date(2026, 11, 26, 14, 5, 0)},
		{"M/d/yyyy h:mm tt", "1/2/2006 3:04 PM", "3/6/2026 9:30 AM", date(2026, 3, 6, 9, 30, 0)},
		{"dd MMM yyyy", "02 Jan 2006", "26 Nov 2026", date(2026, 11, 26, 0, 0, 0)},
		{"d MMMM yyyy", "2 January 2006", "6 March 2026", date(2026, 3, 6, 0, 0, 0)},
		{"ddd, dd MMM yyyy", "Mon, 02 Jan 2006", "Thu, 26 Nov 2026", date(2026, 11, 26, 0, 0, 0)},
		{"dddd d MMMM yyyy", "Monday 2 January 2006", "Friday 6 March 2026", date(2026, 3, 6, 0, 0, 0)},
		{"dd.MM.yyyy HH:mm:ss.fff", "02.01.2006 15:04:05.000", "26.11.2026 14:05:09.123", date(2026, 11, 26, 14, 5, 9).Add(123 * time.Millisecond)},
		// Quoted literals, in either kind of quote, are copied as they are.
		{"yyyy-MM-dd'T'HH:mm:ss", "2006-01-02T15:04:05", "2026-11-26T14:05:09", date(2026, 11, 26, 14, 5, 9)},
		{`yyyy-MM-dd"T"HH:mm`, "2006-01-02T15:04", "2026-11-26T14:05", date(2026, 11, 26, 14, 5, 0)},
		{"dd 'de' MMMM 'de' yyyy", "02 de January de 2006", "06 de March de 2026", date(2026, 3, 6, 0, 0, 0)},
		{"yyyy'-'MM'-'dd", "2006-01-02", "2026-11-26", date(2026, 11, 26, 0, 0, 0)},
		{"yyyy''MM''dd", "20060102", "20261126", date(2026, 11, 26, 0, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			layout, err := DotNetLayout(tt.format)
			if err != nil {
				t.Fatalf("DotNetLayout(%q): %v", tt.format, err)
			}
			if layout != tt.layout {
				t.Errorf("DotNetLayout(%q) = %q, want %q", tt.format, layout, tt.layout)
			}
			got, err := time.Parse(layout, tt.sample)
			if err != nil {
				t.Fatalf("time.Parse(%q, %q): %v", layout, tt.sample, err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("time.Parse(%q, %q) = %v, want %v", layout, tt.sample, got, tt.want)
			}
		})
	}
}

// TestDotNetLayoutZone: zzz is the .NET offset "+01:00".
func TestDotNetLayoutZone(t *testing.T) {
	layout, err := DotNetLayout("yyyy-MM-dd HH:mm zzz")
	if err != nil {
		t.Fatal(err)
	}
	if layout != "2006-01-02 15:04 -07:00" {
		t.Errorf("layout = %q", layout)
	}
	got, err := time.Parse(layout, "2026-11-26 14:05 +01:00")
	if err != nil {
		t.Fatal(err)
	}
	if want := date(2026, 11, 26, 13, 5, 0); !got.Equal(want) {
		t.Errorf("parsed %v, want %v", got, want)
	}
}

func TestDotNetLayoutErrors(t *testing.T) {
	const (
		unknown  = "is not a .NET date format specifier"
		digits   = "digits are not allowed outside quotes"
		unclosed = "unclosed quote"
		notDate  = "needs a year, a month and a day"
	)
	tests := []struct{ format, want string }{
		{"yyyy-MM-dd Q", `"Q" is not a .NET date format specifier`},
		{"yyyy-MM-dd K", unknown},
		{"yyyy-MM-dd zz", unknown},
		{"yyyy-MM-ddTHH:mm", unknown}, // an unquoted T
		{"yyy-MM-dd", unknown},
		{"YYYY-MM-DD", unknown},
		{"yyyy-mm-DD", unknown},
		{"yyyy-MM-dd 1", digits},
		{"20yy-MM-dd", digits},
		{"dd/MM/yyyy'", unclosed},
		{"yyyy-MM-dd 'T", unclosed},
		{`yyyy-MM-dd "T'`, unclosed},
		{"", notDate},
		{"HH:mm:ss", notDate},
		{"MM/yyyy", notDate},
		{"dd/yyyy", notDate},
		{"dd/MM", notDate},
		{"dddd MM yyyy", notDate}, // a weekday is not a day of the month
		{"'yyyy-MM-dd'", notDate}, // quoted, so only a literal
		{"yyyy-mm-dd", notDate},   // mm is minutes
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			layout, err := DotNetLayout(tt.format)
			if err == nil {
				t.Fatalf("DotNetLayout(%q) = %q, want an error containing %q", tt.format, layout, tt.want)
			}
			if layout != "" {
				t.Errorf("DotNetLayout(%q) = %q with an error", tt.format, layout)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.format)) {
				t.Errorf("DotNetLayout(%q) error = %q, want it to quote the format and contain %q", tt.format, err, tt.want)
			}
		})
	}
}

func date(year int, month time.Month, day, hour, min, sec int) time.Time {
	return time.Date(year, month, day, hour, min, sec, 0, time.UTC)
}
