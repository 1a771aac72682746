package store_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/uptrace/bun"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/store"
)

// newStore returns a store on a fresh, migrated database of its own.
// testStore is a store with its database handle, for the tests' checks.
type testStore struct {
	*store.Store
	DB *bun.DB
}

func newStore(t *testing.T) testStore {
	t.Helper()
	ctx := context.Background()
	d, err := testenv.NewDatabase(ctx, "keysmith_store")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Drop(context.Background()); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return testStore{Store: store.New(d.DB), DB: d.DB}
}

// adminExec runs one statement on the Postgres server that testenv uses.
func adminExec(t *testing.T, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// emptyDatabase creates a database without any tables and returns its URL.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	name := "keysmith_store_raw_" + strings.ToLower(rand.Text()[:10])
	ident := pgx.Identifier{name}.Sanitize()
	adminExec(t, "CREATE DATABASE "+ident)
	t.Cleanup(func() { adminExec(t, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)") })
	u, err := url.Parse(testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func openDB(t *testing.T, dsn string) *bun.DB {
	t.Helper()
	db, err := store.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db bun.IDB, table string) int {
	t.Helper()
	var n int
	if err := db.NewRaw("SELECT count(*) FROM "+table).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOpenBadURL(t *testing.T) {
	if _, err := store.Open("postgres://[::1"); err == nil {
		t.Error("Open accepted a malformed URL")
	}
}

func TestMigrateIdempotent(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, emptyDatabase(t))

	applied, err := store.Migrate(ctx, db)
	if err != nil {
		t.Fatalf("first Migrate: %v", err)
	}
	if len(applied) == 0 {
		t.Fatal("first Migrate applied nothing on an empty database")
	}
	for _, table := range []string{"customers", "orders", "license_keys"} {
		if n := count(t, db, table); n != 0 {
			t.Errorf("%s has %d rows", table, n)
		}
	}

	for i := range 2 {
		again, err := store.Migrate(ctx, db)
		if err != nil {
			t.Fatalf("Migrate run %d: %v", i+2, err)
		}
		if len(again) != 0 {
			t.Errorf("Migrate run %d applied %q, want nothing", i+2, again)
		}
	}
	if n := count(t, db, "bun_migrations"); n != len(applied) {
		t.Errorf("bun_migrations has %d rows, want %d", n, len(applied))
	}
}

// TestMigrateConcurrent runs migrators the way several processes would
// (each with its own pool) on one fresh database: the advisory lock makes
// them take turns, so exactly one applies the migrations and none fails.
func TestMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	dsn := emptyDatabase(t)
	const n = 4
	results := make([][]string, n)
	errs := make([]error, n)
	dbs := make([]*bun.DB, n)
	for i := range dbs {
		dbs[i] = openDB(t, dsn)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = store.Migrate(ctx, dbs[i])
		}()
	}
	close(start)
	wg.Wait()

	var all []string
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Migrate %d: %v", i, errs[i])
		}
		all = append(all, results[i]...)
	}
	want, err := store.Migrate(ctx, openDB(t, emptyDatabase(t)))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(all)
	if !reflect.DeepEqual(all, want) {
		t.Errorf("concurrent migrators applied %q in all, want each of %q once", all, want)
	}
	if again, err := store.Migrate(ctx, dbs[0]); err != nil || len(again) != 0 {
		t.Errorf("Migrate afterwards = %q, %v; want nothing", again, err)
	}
	if n := count(t, dbs[0], "orders"); n != 0 {
		t.Errorf("orders has %d rows", n)
	}
}

// TestMigrateConcurrentOnMigrated runs concurrent migrators on an already
// migrated database, as every start of `keysmith dev` and each release's
// `keysmith migrate` do.
func TestMigrateConcurrentOnMigrated(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if applied, err := store.Migrate(context.Background(), s.DB); err != nil || len(applied) != 0 {
				t.Errorf("Migrate = %q, %v; want nothing", applied, err)
			}
		}()
	}
	wg.Wait()
}

func TestMigrateCanceled(t *testing.T) {
	db := openDB(t, emptyDatabase(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := store.Migrate(ctx, db); err == nil {
		t.Error("Migrate with a canceled context succeeded")
	}
	// The database is still usable and migrates normally afterwards.
	if applied, err := store.Migrate(context.Background(), db); err != nil || len(applied) == 0 {
		t.Errorf("Migrate after a canceled one = %q, %v", applied, err)
	}
}

// Timestamps go through timestamptz, which keeps microseconds.
var orderDate = time.Date(2026, time.March, 14, 15, 9, 26, 535897000, time.UTC)

func sampleCustomer() *store.Customer {
	return &store.Customer{
		Email:   "Juergen.Mueller@Example.com",
		Name:    "Jürgen Müller",
		Company: "Müller & Söhne GmbH",
		Street:  "Königstraße 1",
		City:    "München",
		Zip:     "80331",
		State:   "Bayern",
		Country: "Germany",
		ISOCode: "DE",
		Phone:   "+49 89 123456",
	}
}

func sampleOrder(purchaseID, runningNo string) *store.OrderRow {
	expires := time.Date(2027, time.March, 14, 0, 0, 0, 0, time.UTC)
	return &store.OrderRow{
		LineRecord: store.LineRecord{
			Provider:   "shareit",
			PurchaseID: purchaseID,
			RunningNo:  runningNo,
			ExpiresAt:  &expires,
			OrderDate:  orderDate,
			Fields: map[string]string{
				"FIRSTNAME":     "Jürgen",
				"LASTNAME":      "Müller",
				"ADD[X]":        "yes",
				"ADD[ÄÖÜ]":      "ß€😀",
				"quote\"key":    "back\\slash\nnew line\ttab",
				"<html>":        "&amp; 'single'",
				"":              "empty key",
				"EMPTY":         "",
				"unicode\u2028": "\u0001control",
			},
			Args:       map[string]string{"is_productid": "300123", "is_features": "0:3;1:1", "is_user": "shareit"},
			WorkflowID: "order/shareit/" + purchaseID + "/" + runningNo,
		},
		ProductID:    300123,
		Major:        2,
		Minor:        1,
		ProductName:  "My App",
		Quantity:     3,
		Features:     "0:3;1:1",
		LicenseModel: "subscription",
	}
}

func sampleKeys(prefix string, n int) []store.LicenseKey {
	keys := make([]store.LicenseKey, n)
	for i := range keys {
		keys[i] = store.LicenseKey{
			Position: i + 1,
			Key:      fmt.Sprintf("%s-KEY-%d", prefix, i+1),
			Serial:   fmt.Sprintf("%s%014x", prefix, i+1),
			Seats:    i + 1,
		}
	}
	return keys
}

func mustFind(t *testing.T, s *store.Store, purchaseID, runningNo string) *store.OrderRow {
	t.Helper()
	o, err := s.FindOrderLine(context.Background(), store.Line{Provider: "shareit", PurchaseID: purchaseID, RunningNo: runningNo})
	if err != nil {
		t.Fatalf("FindOrderLine(%s-%s): %v", purchaseID, runningNo, err)
	}
	return o
}

// orderData is what an order holds, without the database's own values.
type orderData struct {
	Provider, PurchaseID, RunningNo string
	ProductID, Major, Minor         uint32
	ProductName                     string
	Quantity                        int
	Features, LicenseModel          string
	ExpiresAt                       string
	OrderDate                       string
	Fields, Args                    map[string]string
	WorkflowID, EmailStatus         string
}

func dataOf(o *store.OrderRow) orderData {
	expires := "none"
	if o.ExpiresAt != nil {
		expires = o.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	return orderData{
		o.Provider, o.PurchaseID, o.RunningNo, o.ProductID, o.Major, o.Minor, o.ProductName,
		o.Quantity, o.Features, o.LicenseModel, expires, o.OrderDate.UTC().Format(time.RFC3339Nano),
		o.Fields, o.Args, o.WorkflowID, o.EmailStatus,
	}
}

type keyData struct {
	ID, OrderID int64
	Position    int
	Key, Serial string
	Seats       int
	Revoked     bool
}

func keysOf(o *store.OrderRow) []keyData {
	var ks []keyData
	for _, k := range o.Keys {
		ks = append(ks, keyData{k.ID, k.OrderID, k.Position, k.Key, k.Serial, k.Seats, k.RevokedAt != nil})
	}
	return ks
}

func TestSaveAndFindOrderLine(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := sampleCustomer()
	o := sampleOrder("1000001", "1")
	keys := sampleKeys("A", 3)
	// Handed over out of order: FindOrder sorts by position.
	keys[0], keys[2] = keys[2], keys[0]
	before := time.Now()
	if err := s.SaveOrder(ctx, c, o, keys); err != nil {
		t.Fatalf("SaveOrder: %v", err)
	}
	if c.ID == 0 || o.ID == 0 {
		t.Errorf("SaveOrder did not set the ids: customer %d, order %d", c.ID, o.ID)
	}
	if o.CustomerID == nil || *o.CustomerID != c.ID {
		t.Errorf("order CustomerID = %v, want %d", o.CustomerID, c.ID)
	}
	for _, k := range keys {
		if k.OrderID != o.ID || k.ID == 0 {
			t.Errorf("key %d: OrderID %d ID %d, want order %d and an id", k.Position, k.OrderID, k.ID, o.ID)
		}
	}

	got := mustFind(t, s.Store, "1000001", "1")
	want := dataOf(sampleOrder("1000001", "1"))
	want.EmailStatus = "pending"
	if d := dataOf(got); !reflect.DeepEqual(d, want) {
		t.Errorf("FindOrder =\n%+v\nwant\n%+v", d, want)
	}
	if got.ID != o.ID || got.CustomerID == nil || *got.CustomerID != c.ID {
		t.Errorf("FindOrder: id %d customer %v, want %d and %d", got.ID, got.CustomerID, o.ID, c.ID)
	}
	if got.EmailID != nil || got.EmailedAt != nil {
		t.Errorf("new order has email id %v, emailed at %v", got.EmailID, got.EmailedAt)
	}
	if got.CreatedAt.Before(before.Add(-time.Minute)) || got.CreatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("CreatedAt = %v, want about now", got.CreatedAt)
	}
	if len(got.Keys) != 3 {
		t.Fatalf("FindOrder returned %d keys, want 3", len(got.Keys))
	}
	for i, k := range got.Keys {
		want := sampleKeys("A", 3)[i]
		if k.Position != i+1 || k.Key != want.Key || k.Serial != want.Serial || k.Seats != want.Seats || k.OrderID != o.ID || k.RevokedAt != nil {
			t.Errorf("key %d = %+v, want %+v", i, k, want)
		}
	}

	cust, err := s.FindCustomer(ctx, "juergen.mueller@example.com")
	if err != nil {
		t.Fatalf("FindCustomer: %v", err)
	}
	wantC := sampleCustomer()
	wantC.ID, wantC.CreatedAt, wantC.UpdatedAt = c.ID, cust.CreatedAt, cust.UpdatedAt
	if !reflect.DeepEqual(cust, wantC) {
		t.Errorf("FindCustomer =\n%+v\nwant\n%+v", cust, wantC)
	}
}

func TestFindCustomerAnyCase(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := sampleCustomer()
	if err := s.SaveOrder(ctx, c, sampleOrder("1", "1"), sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"Juergen.Mueller@Example.com", "juergen.mueller@example.com", "JUERGEN.MUELLER@EXAMPLE.COM"} {
		got, err := s.FindCustomer(ctx, email)
		if err != nil || got.ID != c.ID || got.Email != "Juergen.Mueller@Example.com" {
			t.Errorf("FindCustomer(%q) = %+v, %v", email, got, err)
		}
	}
	for _, email := range []string{"other@example.com", "", "juergen.mueller@example.co"} {
		if got, err := s.FindCustomer(ctx, email); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("FindCustomer(%q) = %+v, %v; want ErrNotFound", email, got, err)
		}
	}
}

// TestSaveOrderTwice is the retried activity: the second save of an order
// line changes nothing, whatever it carries.
func TestSaveOrderTwice(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SaveOrder(ctx, sampleCustomer(), sampleOrder("2000", "1"), sampleKeys("A", 2)); err != nil {
		t.Fatal(err)
	}
	first := mustFind(t, s.Store, "2000", "1")

	// The same again, as a plain retry sends it.
	if err := s.SaveOrder(ctx, sampleCustomer(), sampleOrder("2000", "1"), sampleKeys("A", 2)); err != nil {
		t.Fatalf("second SaveOrder with the same keys: %v", err)
	}
	// And with other values and other keys.
	o := sampleOrder("2000", "1")
	o.ProductName = "Changed"
	o.Quantity = 99
	o.Features = "2:1"
	o.ExpiresAt = nil
	o.OrderDate = orderDate.Add(time.Hour)
	o.Fields = map[string]string{"FIRSTNAME": "Someone else"}
	o.Args = map[string]string{}
	o.WorkflowID = "other"
	o.EmailStatus = "sent"
	if err := s.SaveOrder(ctx, sampleCustomer(), o, sampleKeys("B", 5)); err != nil {
		t.Fatalf("second SaveOrder with other keys: %v", err)
	}
	// And with no keys at all.
	if err := s.SaveOrder(ctx, nil, sampleOrder("2000", "1"), nil); err != nil {
		t.Fatalf("second SaveOrder without keys: %v", err)
	}

	got := mustFind(t, s.Store, "2000", "1")
	if !reflect.DeepEqual(dataOf(got), dataOf(first)) {
		t.Errorf("order changed by a second save:\n%+v\nwas\n%+v", dataOf(got), dataOf(first))
	}
	if got.ID != first.ID || !reflect.DeepEqual(got.CustomerID, first.CustomerID) || !got.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("order id/customer/created changed: %d %v %v, was %d %v %v",
			got.ID, got.CustomerID, got.CreatedAt, first.ID, first.CustomerID, first.CreatedAt)
	}
	if !reflect.DeepEqual(keysOf(got), keysOf(first)) {
		t.Errorf("keys changed by a second save:\n%+v\nwas\n%+v", keysOf(got), keysOf(first))
	}
	if n := count(t, s.DB, "orders"); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
	if n := count(t, s.DB, "license_keys"); n != 2 {
		t.Errorf("%d keys, want 2", n)
	}
	if n := count(t, s.DB, "customers"); n != 1 {
		t.Errorf("%d customers, want 1", n)
	}
}

// TestSaveOrderConcurrent is two workers (or a retry overlapping a slow
// first attempt) saving the same line at once.
func TestSaveOrderConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c := sampleCustomer()
			if i%2 == 1 {
				c.Email = strings.ToUpper(c.Email)
			}
			if err := s.SaveOrder(ctx, c, sampleOrder("3000", "1"), sampleKeys("A", 2)); err != nil {
				t.Errorf("SaveOrder %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := mustFind(t, s.Store, "3000", "1"); len(got.Keys) != 2 || got.CustomerID == nil {
		t.Errorf("order = %+v with %d keys", got, len(got.Keys))
	}
	for table, want := range map[string]int{"orders": 1, "license_keys": 2, "customers": 1} {
		if got := count(t, s.DB, table); got != want {
			t.Errorf("%s: %d rows, want %d", table, got, want)
		}
	}
}

func TestSaveOrderOtherLines(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// Same purchase, other running number; same numbers, other provider.
	lines := []*store.OrderRow{sampleOrder("4000", "1"), sampleOrder("4000", "2"), sampleOrder("4001", "1")}
	other := sampleOrder("4000", "1")
	other.Provider = "digitalriver"
	lines = append(lines, other)
	for i, o := range lines {
		if err := s.SaveOrder(ctx, sampleCustomer(), o, sampleKeys(fmt.Sprint("L", i), 1)); err != nil {
			t.Fatalf("SaveOrder %d: %v", i, err)
		}
	}
	if n := count(t, s.DB, "orders"); n != 4 {
		t.Errorf("%d orders, want 4", n)
	}
	a := mustFind(t, s.Store, "4000", "1")
	b, err := s.FindOrderLine(ctx, store.Line{Provider: "digitalriver", PurchaseID: "4000", RunningNo: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || a.Keys[0].Key != "L0-KEY-1" || b.Keys[0].Key != "L3-KEY-1" {
		t.Errorf("providers mixed up: %+v / %+v", a.Keys[0], b.Keys[0])
	}
	if *a.CustomerID != *b.CustomerID {
		t.Error("one email, two customers")
	}
}

func TestFindOrderNotFound(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SaveOrder(ctx, nil, sampleOrder("5000", "1"), sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][3]string{
		{"shareit", "5000", "2"},
		{"shareit", "5001", "1"},
		{"ShareIt", "5000", "1"},
		{"other", "5000", "1"},
		{"", "", ""},
	} {
		o, err := s.FindOrderLine(ctx, store.Line{Provider: k[0], PurchaseID: k[1], RunningNo: k[2]})
		if !errors.Is(err, store.ErrNotFound) || o != nil {
			t.Errorf("FindOrder%q = %+v, %v; want ErrNotFound", k, o, err)
		}
	}
}

func TestSaveOrderWithoutKeys(t *testing.T) {
	s := newStore(t)
	if err := s.SaveOrder(context.Background(), nil, sampleOrder("5500", "1"), nil); err != nil {
		t.Fatal(err)
	}
	if o := mustFind(t, s.Store, "5500", "1"); len(o.Keys) != 0 {
		t.Errorf("order has %d keys, want none", len(o.Keys))
	}
}

func TestCustomerUpsert(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	first := sampleCustomer()
	if err := s.SaveOrder(ctx, first, sampleOrder("6000", "1"), sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	old, err := s.FindCustomer(ctx, first.Email)
	if err != nil {
		t.Fatal(err)
	}

	// A later order by the same buyer, the address in other case: non-empty
	// fields replace the old ones, empty ones keep them.
	second := &store.Customer{
		Email:   "JUERGEN.MUELLER@EXAMPLE.COM",
		Company: "Neue Firma AG",
		City:    "Köln",
		Zip:     "50667",
		Phone:   "",
	}
	o := sampleOrder("6001", "1")
	if err := s.SaveOrder(ctx, second, o, sampleKeys("B", 1)); err != nil {
		t.Fatal(err)
	}
	if second.ID != old.ID {
		t.Errorf("second save returned customer id %d, want %d", second.ID, old.ID)
	}
	if o.CustomerID == nil || *o.CustomerID != old.ID {
		t.Errorf("second order's CustomerID = %v, want %d", o.CustomerID, old.ID)
	}
	got, err := s.FindCustomer(ctx, "juergen.mueller@example.com")
	if err != nil {
		t.Fatal(err)
	}
	want := *old
	want.Company, want.City, want.Zip = "Neue Firma AG", "Köln", "50667"
	want.UpdatedAt = got.UpdatedAt
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("customer after upsert =\n%+v\nwant\n%+v", *got, want)
	}
	if got.UpdatedAt.Before(old.UpdatedAt) {
		t.Errorf("UpdatedAt went back: %v < %v", got.UpdatedAt, old.UpdatedAt)
	}
	if !got.CreatedAt.Equal(old.CreatedAt) {
		t.Errorf("CreatedAt changed: %v, was %v", got.CreatedAt, old.CreatedAt)
	}
	if n := count(t, s.DB, "customers"); n != 1 {
		t.Errorf("%d customers, want 1", n)
	}
	if a, b := mustFind(t, s.Store, "6000", "1"), mustFind(t, s.Store, "6001", "1"); *a.CustomerID != *b.CustomerID {
		t.Errorf("orders have customers %d and %d, want one", *a.CustomerID, *b.CustomerID)
	}

	// Another buyer is another customer.
	third := &store.Customer{Email: "someone@example.com", Name: "Someone"}
	if err := s.SaveOrder(ctx, third, sampleOrder("6002", "1"), sampleKeys("C", 1)); err != nil {
		t.Fatal(err)
	}
	if third.ID == old.ID || count(t, s.DB, "customers") != 2 {
		t.Errorf("another email got customer %d (first is %d)", third.ID, old.ID)
	}
}

func TestOrderWithoutEmail(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// The activity always passes a customer; without an email it is not stored.
	noEmail := sampleCustomer()
	noEmail.Email = ""
	if err := s.SaveOrder(ctx, noEmail, sampleOrder("7000", "1"), sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveOrder(ctx, nil, sampleOrder("7000", "2"), sampleKeys("B", 1)); err != nil {
		t.Fatal(err)
	}
	for _, rn := range []string{"1", "2"} {
		if o := mustFind(t, s.Store, "7000", rn); o.CustomerID != nil {
			t.Errorf("order 7000-%s has customer %d, want NULL", rn, *o.CustomerID)
		}
	}
	var nulls int
	if err := s.DB.NewRaw("SELECT count(*) FROM orders WHERE customer_id IS NULL").Scan(ctx, &nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != 2 {
		t.Errorf("%d orders with customer_id NULL, want 2", nulls)
	}
	if n := count(t, s.DB, "customers"); n != 0 {
		t.Errorf("%d customers, want none", n)
	}
	if noEmail.ID != 0 {
		t.Errorf("customer without email got id %d", noEmail.ID)
	}
}

func TestSaveOrderRollsBack(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SaveOrder(ctx, nil, sampleOrder("8000", "1"), sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	// A key that already exists (unique) fails the save: neither the
	// customer nor the order may stay behind.
	c := &store.Customer{Email: "new@example.com", Name: "New"}
	err := s.SaveOrder(ctx, c, sampleOrder("8001", "1"), sampleKeys("A", 1))
	if err == nil {
		t.Fatal("SaveOrder with a duplicate key succeeded")
	}
	if _, err := s.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: "8001", RunningNo: "1"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("order of the failed save: %v, want ErrNotFound", err)
	}
	if _, err := s.FindCustomer(ctx, "new@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("customer of the failed save: %v, want ErrNotFound", err)
	}
}

func TestSetEmailStatus(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := s.SaveOrder(ctx, sampleCustomer(), sampleOrder("9000", "1"), sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveOrder(ctx, sampleCustomer(), sampleOrder("9000", "2"), sampleKeys("B", 1)); err != nil {
		t.Fatal(err)
	}

	// A failure without an email id sets only the status.
	if err := s.SetEmailStatus(ctx, store.Line{Provider: "shareit", PurchaseID: "9000", RunningNo: "1"}, "failed", ""); err != nil {
		t.Fatal(err)
	}
	o := mustFind(t, s.Store, "9000", "1")
	if o.EmailStatus != "failed" || o.EmailID != nil || o.EmailedAt != nil {
		t.Errorf("after failed: status %q id %v at %v", o.EmailStatus, o.EmailID, o.EmailedAt)
	}

	before := time.Now()
	if err := s.SetEmailStatus(ctx, store.Line{Provider: "shareit", PurchaseID: "9000", RunningNo: "1"}, "sent", "re_0123-abcd"); err != nil {
		t.Fatal(err)
	}
	o = mustFind(t, s.Store, "9000", "1")
	if o.EmailStatus != "sent" || o.EmailID == nil || *o.EmailID != "re_0123-abcd" || o.EmailedAt == nil {
		t.Fatalf("after sent: status %q id %v at %v", o.EmailStatus, o.EmailID, o.EmailedAt)
	}
	if o.EmailedAt.Before(before.Add(-time.Minute)) || o.EmailedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("EmailedAt = %v, want about now", o.EmailedAt)
	}
	// The rest of the order is untouched.
	want := dataOf(sampleOrder("9000", "1"))
	want.EmailStatus = "sent"
	if got := dataOf(o); !reflect.DeepEqual(got, want) {
		t.Errorf("order after SetEmailStatus =\n%+v\nwant\n%+v", got, want)
	}
	if len(o.Keys) != 1 {
		t.Errorf("%d keys", len(o.Keys))
	}
	// Only that line.
	if other := mustFind(t, s.Store, "9000", "2"); other.EmailStatus != "pending" || other.EmailID != nil || other.EmailedAt != nil {
		t.Errorf("other line: status %q id %v at %v", other.EmailStatus, other.EmailID, other.EmailedAt)
	}
}

// TestJSONRoundTrip stores order fields as they come from storefronts:
// non-ASCII values and keys with brackets and quotes.
func TestJSONRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	o := sampleOrder("10000", "1")
	if err := s.SaveOrder(ctx, sampleCustomer(), o, sampleKeys("A", 1)); err != nil {
		t.Fatal(err)
	}
	got := mustFind(t, s.Store, "10000", "1")
	if !reflect.DeepEqual(got.Fields, o.Fields) {
		t.Errorf("Fields =\n%q\nwant\n%q", got.Fields, o.Fields)
	}
	if !reflect.DeepEqual(got.Args, o.Args) {
		t.Errorf("Args = %q, want %q", got.Args, o.Args)
	}
	// Stored as real JSON objects, queryable by key.
	var first, odd string
	if err := s.DB.NewRaw(`SELECT fields->>'FIRSTNAME', fields->>'ADD[X]' FROM orders WHERE id = ?`, got.ID).Scan(ctx, &first, &odd); err != nil {
		t.Fatal(err)
	}
	if first != "Jürgen" || odd != "yes" {
		t.Errorf("fields->>: %q, %q", first, odd)
	}
	var typ string
	if err := s.DB.NewRaw(`SELECT jsonb_typeof(args) FROM orders WHERE id = ?`, got.ID).Scan(ctx, &typ); err != nil {
		t.Fatal(err)
	}
	if typ != "object" {
		t.Errorf("args is a JSON %s, want object", typ)
	}

	// Empty maps stay empty objects.
	e := sampleOrder("10000", "2")
	e.Fields, e.Args = map[string]string{}, map[string]string{}
	if err := s.SaveOrder(ctx, nil, e, sampleKeys("B", 1)); err != nil {
		t.Fatal(err)
	}
	if got := mustFind(t, s.Store, "10000", "2"); len(got.Fields) != 0 || len(got.Args) != 0 {
		t.Errorf("empty maps came back as %q, %q", got.Fields, got.Args)
	}
}
