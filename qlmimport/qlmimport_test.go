package qlmimport_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/qlmimport"
)

func read(t *testing.T, csv string, o qlmimport.Options) ([]qlmimport.License, []qlmimport.RowError) {
	t.Helper()
	cfg, err := testenv.Config()
	if err != nil {
		t.Fatal(err)
	}
	o.Config, o.Provider = cfg, "qlm-import"
	o.Today = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	var good []qlmimport.License
	var bad []qlmimport.RowError
	err = qlmimport.Licenses(strings.NewReader(csv), o, func(l qlmimport.License, e *qlmimport.RowError) error {
		if e != nil {
			bad = append(bad, *e)
		} else {
			good = append(good, l)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return good, bad
}

// QLM's columns, any case and spacing, become the line; every other column
// is kept; the running number counts the order's licenses in the file.
func TestLicenses(t *testing.T) {
	good, bad := read(t, "\ufeffactivation key,Product_ID,MajorVersion,MinorVersion,Features,NumLicenses,License Model,ExpiryDate,MaintenanceRenewalDate,OrderID,OrderDate,Email,Full Name,ComputerID,ComputerName,Revoked,SubscriptionID\n"+
		"abcd-efgh-1234,1,1,0,0:3;1:1,3,subscription_floating,12/31/2027,2027-06-30,9001,2025-01-02 10:00:00,ada@example.com,Ada,pc-1,Desk,yes,sub_1\n"+
		"ABCD-EFGH-5678,7,,,,,none,,,9001,,,,,,,\n", qlmimport.Options{})
	if len(bad) != 0 || len(good) != 2 {
		t.Fatalf("good %d, bad %v", len(good), bad)
	}
	l := good[0]
	if l.LegacyKey != "ABCDEFGH1234" || l.LegacyText != "abcd-efgh-1234" || !l.Revoked || len(l.Computers) != 1 || l.Computers[0].Name != "Desk" {
		t.Errorf("first: %+v", l)
	}
	line := l.Line
	if line.PurchaseID != "9001" || line.RunningNo != "1" || line.Seats != 3 || line.Model != "subscription_floating" ||
		line.Features.String() != "0:3;1:1" || line.Expires.Format(time.DateOnly) != "2027-12-31" ||
		line.Maintenance.Format(time.DateOnly) != "2027-06-30" || line.OrderDate.Format(time.DateOnly) != "2025-01-02" ||
		line.Customer.Email != "ada@example.com" || line.Email.Send || line.Fields["SubscriptionID"] != "sub_1" {
		t.Errorf("first line: %+v", line)
	}
	second := good[1].Line
	if second.RunningNo != "2" || second.Product.Major != 3 || second.Model != "permanent" || !second.OrderDate.Equal(time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)) || len(second.Warnings) != 1 {
		t.Errorf("second line (version from the product, no order date): %+v", second)
	}
}

func TestLicensesBadRows(t *testing.T) {
	_, bad := read(t, "ActivationKey,ProductID,MajorVersion,MinorVersion,Features,NumLicenses,LicenseModel,ExpiryDate,OrderDate,Revoked\n"+
		",1,1,0,,,,,,\n"+
		"K1,1,9,0,,,,,,\n"+
		"K2,1,1,0,5:1,,,,,\n"+
		"K3,1,1,0,,0,,,,\n"+
		"K4,1,1,0,,,lifetime,,,\n"+
		"K5,1,1,0,,,,2020-01-01,2021-01-01,\n"+
		"K6,1,1,0,,,,,,maybe\n"+
		"K6,1,1,0,,,,,,\n"+
		"K7,1,1\n", qlmimport.Options{})
	want := []string{
		"row 2: ActivationKey: empty", "row 3: ProductID: product 1 version 9.0", "row 4: Features:", "row 5: NumLicenses:",
		"row 6: LicenseModel:", "row 7: ExpiryDate: 2020-01-01 is not after the order", "row 8: Revoked:", "row 9: ActivationKey: K6 is also on row 8",
	}
	if len(bad) != len(want) {
		t.Fatalf("bad rows %v, want %d", bad, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(bad[i].Error(), w) {
			t.Errorf("bad row %d: %q, want %q", i, bad[i], w)
		}
	}
}

func TestActivationsAndCustomers(t *testing.T) {
	acts, bad, err := qlmimport.ReadActivations(strings.NewReader("ActivationKey,ComputerID,ComputerName,ActivationDate,ReleaseDate\n"+
		"ab-cd,pc-1,One,2024-01-01,\nABCD,pc-2,Two,,2024-02-01\nABCD,pc-1,Again,,\n,pc-3,,,\n"), qlmimport.Options{})
	if err != nil || len(bad) != 1 || len(acts["ABCD"]) != 1 || acts["ABCD"][0].Name != "One" {
		t.Errorf("activations %v bad %v err %v", acts, bad, err)
	}
	customers, bad, err := qlmimport.ReadCustomers(strings.NewReader("Email,FullName,Company,City\nAda@Example.com,Ada,Buyer GmbH,Köln\n,x,,\n"))
	if err != nil || len(bad) != 1 || customers["ada@example.com"].City != "Köln" {
		t.Errorf("customers %v bad %v err %v", customers, bad, err)
	}
	good, _ := read(t, "ActivationKey,ProductID,MajorVersion,MinorVersion,Email\nABCD,1,1,0,ada@example.com\n",
		qlmimport.Options{Activations: acts, Customers: customers})
	if len(good) != 1 || good[0].Line.Customer.Company != "Buyer GmbH" || len(good[0].Computers) != 1 {
		t.Errorf("joined: %+v", good)
	}
}
