package order_test

import (
	"testing"

	"github.com/keysmith/keysmith/order"
)

func TestNameRoundTrip(t *testing.T) {
	for _, tc := range []struct{ provider, purchase, running, name string }{
		{"shareit", "612345678", "1", "shareit:612345678-1"},
		{"shareit", "A-7-x", "2", "shareit:A-7-x-2"},
		{"shareit", "Ref #12 345/A", "1", "shareit:Ref%20%2312%20345%2FA-1"},
		{"shareit", "A", "1-2", "shareit:A-1%2D2"},
		{"mycommerce", "100%", "x.y_z", "mycommerce:100%25-x.y_z"},
	} {
		if got := order.Name(tc.provider, tc.purchase, tc.running); got != tc.name {
			t.Errorf("Name(%q, %q, %q) = %q, want %q", tc.provider, tc.purchase, tc.running, got, tc.name)
		}
		l, err := order.ParseName(tc.name)
		if want := (order.LineID{Provider: tc.provider, PurchaseID: tc.purchase, RunningNo: tc.running}); err != nil || l != want {
			t.Errorf("ParseName(%q) = %+v %v", tc.name, l, err)
		}
	}
	// Lines that differ are named differently, even where plain joining
	// would not tell them apart.
	if order.Name("s", "A-1", "2") == order.Name("s", "A", "1-2") {
		t.Error("two lines share a name")
	}
	for _, bad := range []string{"", "shareit", "shareit:", "shareit:123", "shareit:-1", "shareit:123-", ":123-1", "shareit:12%G0-1", "shareit:12%2-1"} {
		if _, err := order.ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}
