package orderline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/storefront"
	"github.com/keysmith/keysmith/storefront/shareit"
)

// memory is a Lookup over stored lines in memory: what renewals read,
// without Postgres.
type memory struct {
	lines     []*store.OrderRow
	customers map[int64]*store.Customer
}

func (m *memory) FindLineByKey(_ context.Context, key string) (*store.OrderRow, error) {
	for _, o := range m.lines {
		for _, k := range o.Keys {
			if k.Key == key {
				return o, nil
			}
		}
	}
	return nil, store.ErrNotFound
}

func (m *memory) FindOrderLine(_ context.Context, l order.LineID) (*store.OrderRow, error) {
	for _, o := range m.lines {
		if o.LineID() == l {
			return o, nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memory) FindLineBySubscription(_ context.Context, provider, subscription string) (*store.OrderRow, error) {
	for _, o := range m.lines {
		if o.Provider == provider && o.Subscription != nil && *o.Subscription == subscription {
			return o, nil
		}
	}
	return nil, store.ErrNotFound
}

func (m *memory) FindLatestLine(context.Context, string, string, uint32) (*store.OrderRow, error) {
	return nil, store.ErrNotFound
}

func (m *memory) Renewals(context.Context, int64) ([]store.RenewalRow, error) { return nil, nil }

func (m *memory) FindCustomerByID(_ context.Context, id int64) (*store.Customer, error) {
	if c, ok := m.customers[id]; ok {
		return c, nil
	}
	return nil, store.ErrNotFound
}

// storedLine is a stored line of product id 1.0 with one key of seats,
// bought 2026-11-01, expiring and maintained until 2027-11-01.
func storedLine(provider, purchase string, product uint32, key string) *store.OrderRow {
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := day.AddDate(1, 0, 0)
	customer := int64(7)
	return &store.OrderRow{
		ID: 1,
		LineRecord: store.LineRecord{
			Provider: provider, PurchaseID: purchase, RunningNo: "1", OrderDate: day,
			ExpiresAt: &end, Maintenance: &end, CustomerID: &customer,
			Args: map[string]string{"is_productid": "1"},
		},
		ProductID: product, Major: 1, Minor: 0, ProductName: "Stored name", Quantity: 2,
		Features: "0:3", LicenseModel: "subscription",
		Keys: []*store.LicenseKey{{Position: 1, Key: key, Serial: "00aa", Seats: 2}},
	}
}

func renewalBuilder(t *testing.T, lines ...*store.OrderRow) Builder {
	return Builder{
		Config:    lineConfig(t, nil),
		Templates: templateSet{"default": true, "welcome": true},
		Store: &memory{lines: lines, customers: map[int64]*store.Customer{
			7: {ID: 7, Email: "first@example.com", Name: "First Buyer", Company: "First GmbH"},
		}},
	}
}

// request decodes a ShareIt call to method.
func request(t *testing.T, method, query, form string) storefront.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/qlmservice.asmx/"+method+"?"+query, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c, err := qlm.ReadCall(r)
	require.NoError(t, err)
	req, err := shareit.Decode(c, shareit.Options{})
	require.NoError(t, err)
	req.Method = strings.ToLower(method)
	return req
}

// TestMaintenanceRenewalOfShortKeys: a maintenance plan bought for a
// product with short keys re-issues short keys (it signed long ones).
func TestMaintenanceRenewalOfShortKeys(t *testing.T) {
	b := renewalBuilder(t, storedLine("shareit", "S1", 9, "ABCD-EFGH"))
	p, _ := b.Config.Provider("shareit")
	line, err := b.Line(context.Background(), p,
		request(t, "RenewMaintenancePlan", "is_vendor=shareit&is_avkey=ABCD-EFGH&is_maintduration=365", "PURCHASE_ID=M1"), received)
	require.NoError(t, err)
	require.NotNil(t, line.Renews)
	assert.Equal(t, order.RenewMaintenance, line.Renews.Kind)
	assert.Equal(t, "short", line.KeyFormat)
	assert.Equal(t, []string{"00aa"}, line.Renews.Serials)
	assert.Equal(t, time.Date(2028, 10, 31, 0, 0, 0, 0, time.UTC), line.MaintenanceDate(), "a year from the plan's end")
	assert.Equal(t, order.Customer{Email: "first@example.com", Name: "First Buyer", Company: "First GmbH"}, line.Customer,
		"mailed to the buyer of record when the call names none")
}

// TestRenewalKeepsTheCallsTemplate: a rebilling call's is_emailtemplate
// mails the renewal (it was dropped for the product's).
func TestRenewalKeepsTheCallsTemplate(t *testing.T) {
	b := renewalBuilder(t, storedLine("shareit", "S1", 1, "KEY-1"))
	p, _ := b.Config.Provider("shareit")
	req := request(t, "GetActivationKey", "is_vendor=shareit&is_productid=1&is_majorversion=1&is_minorversion=0&is_emailtemplate=welcome",
		"PURCHASE_ID=R1&ORIGINAL_PURCHASE_ID=S1&EMAIL=renewer%40example.com")
	line, err := b.Line(context.Background(), p, req, received)
	require.NoError(t, err)
	require.NotNil(t, line.Renews)
	assert.Equal(t, order.Email{Send: true, Template: "welcome"}, line.Email)
	assert.Equal(t, "renewer@example.com", line.Customer.Email)
	assert.Equal(t, "Stored name", line.Product.Name, "the original's product")
	assert.Equal(t, 2, line.Seats)

	// A template that does not exist: the product's, with a warning.
	req = request(t, "GetActivationKey", "is_vendor=shareit&is_productid=1&is_majorversion=1&is_minorversion=0&is_emailtemplate=nosuch",
		"PURCHASE_ID=R2&ORIGINAL_PURCHASE_ID=S1")
	line, err = b.Line(context.Background(), p, req, received)
	require.NoError(t, err)
	assert.Equal(t, "default", line.Email.Template)
	assert.Contains(t, strings.Join(line.Warnings, "\n"), `is_emailtemplate: no template "nosuch"`)
}

// TestRenewSubscriptionHttp: the renewal finds its line by the
// storefront's subscription; none found is refused, as nothing else names
// a product to key.
func TestRenewSubscriptionHttp(t *testing.T) {
	first := storedLine("fastspring", "F1", 1, "KEY-F")
	sub := "sub-1"
	first.Subscription = &sub
	b := renewalBuilder(t, first)
	p, _ := b.Config.Provider("fastspring")
	req := storefront.Request{Method: MethodRenewSubscription, Args: qlm.Args{ExpDuration: 30, SendMail: true},
		Purchase: storefront.Purchase{PurchaseID: "F2", RunningNo: "1", Subscription: sub}}
	line, err := b.Line(context.Background(), p, req, received)
	require.NoError(t, err)
	require.NotNil(t, line.Renews)
	assert.Equal(t, order.LineID{Provider: "fastspring", PurchaseID: "F1", RunningNo: "1"}, line.Renews.LineID)
	assert.Equal(t, time.Date(2027, 12, 1, 0, 0, 0, 0, time.UTC), line.ExpiryDate(), "30 days after the paid period")
	assert.NotNil(t, line.Confirm, "held until the storefront has the keys")

	req.Confirmed = true
	line, err = b.Line(context.Background(), p, req, received)
	require.NoError(t, err)
	assert.Nil(t, line.Confirm, "a notification's line is never held")

	req.Purchase.Subscription = "sub-unknown"
	_, err = b.Line(context.Background(), p, req, received)
	requireBadRequest(t, err, "is_avkey: no subscription found to renew")
}

// TestSubscriptionsFirstPurchase: a purchase naming a subscription keysmith
// has not keyed is its first purchase, without a warning; called again,
// the same line.
func TestSubscriptionsFirstPurchase(t *testing.T) {
	b := renewalBuilder(t)
	p, _ := b.Config.Provider("fastspring")
	req := storefront.Request{Method: "getactivationkey",
		Args:     qlm.Args{HasProductID: true, ProductID: 1, HasVersion: true, Major: 1, SendMail: true},
		Purchase: storefront.Purchase{PurchaseID: "F1", RunningNo: "app", Quantity: 1, Subscription: "sub-9"}}
	line, err := b.Line(context.Background(), p, req, received)
	require.NoError(t, err)
	assert.Nil(t, line.Renews)
	assert.Equal(t, "sub-9", line.Subscription)
	assert.Empty(t, line.Warnings)

	stored := storedLine("fastspring", "F1", 1, "KEY-9")
	stored.RunningNo = "app"
	stored.Subscription = &req.Purchase.Subscription
	b.Store = &memory{lines: []*store.OrderRow{stored}}
	again, err := b.Line(context.Background(), p, req, received)
	require.NoError(t, err)
	assert.Nil(t, again.Renews, "the line itself, called again")
}

// TestStored: a stored row reads back as the line it was keyed from.
func TestStored(t *testing.T) {
	b := renewalBuilder(t)
	row := storedLine("shareit", "S1", 9, "ABCD")
	row.Args["is_emailtemplate"] = " welcome "
	line, keys, err := b.Stored(row, &store.Customer{Email: "a@example.com", Name: "A"})
	require.NoError(t, err)
	assert.Equal(t, order.LineID{Provider: "shareit", PurchaseID: "S1", RunningNo: "1"}, line.LineID)
	assert.Equal(t, "short", line.KeyFormat)
	assert.Equal(t, order.Email{Send: true, Template: "welcome"}, line.Email)
	assert.Equal(t, 2, line.Seats)
	assert.Equal(t, 1, line.KeyCount)
	assert.Equal(t, []order.Key{{Key: "ABCD", Serial: "00aa", Seats: 2}}, keys)
	assert.Equal(t, "a@example.com", line.Customer.Email)

	row.Features = "9:9"
	_, _, err = b.Stored(row, nil)
	assert.ErrorContains(t, err, "stored features")
}
