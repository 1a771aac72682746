package activities_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/keysmith/keysmith/activities"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/mail"
	"github.com/keysmith/keysmith/mail/resendtest"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
)

// testWorkflowID is the workflow ID the test activity environment reports
// through activity.GetInfo (SetExecuteActivitiesInWorkflow defaults to true).
const testWorkflowID = "default-test-workflow-id"

func newSigner(t *testing.T) (*license.SigningKey, license.Keyring) {
	t.Helper()
	k, err := license.GenerateSigningKey(7)
	require.NoError(t, err)
	return &k, license.Keyring{7: k.PublicKey()}
}

func newEnv(acts *activities.Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env
}

// testStore is a store with its database handle, for the tests' checks.
type testStore struct {
	*store.Store
	DB *bun.DB
}

func newStore(t *testing.T) testStore {
	t.Helper()
	db, err := testenv.NewDatabase(context.Background(), "keysmith_activities")
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := db.Drop(context.Background()); err != nil {
			t.Errorf("drop database: %v", err)
		}
	})
	return testStore{Store: store.New(db.DB), DB: db.DB}
}

func generate(t *testing.T, env *testsuite.TestActivityEnvironment, acts *activities.Activities, line order.Line) []order.Key {
	t.Helper()
	val, err := env.ExecuteActivity(acts.GenerateKeys, line)
	require.NoError(t, err)
	var keys []order.Key
	require.NoError(t, val.Get(&keys))
	return keys
}

// appError returns the ApplicationError inside an activity failure.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "error %T %q holds no ApplicationError", err, err)
	return app
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestGenerateKeysDeterministic(t *testing.T) {
	signer, _ := newSigner(t)
	acts := &activities.Activities{Signer: signer}
	env := newEnv(acts)
	line := testenv.OrderLine("548712391")
	line.KeyCount = 2

	first := generate(t, env, acts, line)
	second := generate(t, newEnv(acts), acts, line)
	require.Len(t, first, 2)
	assert.Equal(t, first, second, "the same line must give the same keys")
}

func TestGenerateKeysCarryTheLine(t *testing.T) {
	signer, ring := newSigner(t)
	acts := &activities.Activities{Signer: signer}
	env := newEnv(acts)
	line := testenv.OrderLine("548712391")

	keys := generate(t, env, acts, line)
	require.Len(t, keys, 1)
	c, err := ring.Verify(keys[0].Key)
	require.NoError(t, err)
	assert.Equal(t, uint16(7), c.KeyID)
	assert.Equal(t, uint32(300123), c.Product)
	assert.Equal(t, uint32(2), c.Major)
	assert.Equal(t, uint32(4), c.Minor)
	assert.Equal(t, license.Features{3, 0, 5, 0}, c.Features)
	assert.Equal(t, uint32(3), c.Seats)
	assert.Equal(t, license.Subscription, c.Model)
	assert.True(t, c.Issued.Equal(day(2025, 3, 14)), "issued %v", c.Issued)
	// ExpiresInDays counts from the order's day.
	assert.True(t, c.Expires.Equal(day(2026, 3, 14)), "expires %v", c.Expires)
	assert.Equal(t, fmt.Sprintf("%016x", c.Serial), keys[0].Serial)
	assert.Equal(t, 3, keys[0].Seats)

	// Another signing key does not verify it.
	_, other := newSigner(t)
	_, err = other.Verify(keys[0].Key)
	assert.ErrorIs(t, err, license.ErrBadSignature)
}

func TestGenerateKeysExpiry(t *testing.T) {
	signer, ring := newSigner(t)
	acts := &activities.Activities{Signer: signer}
	env := newEnv(acts)

	cases := []struct {
		name    string
		edit    func(*order.Line)
		model   license.Model
		issued  time.Time
		expires time.Time
	}{
		// qlmdocs/faq/available-options-for-controlling-the-expiry-date-of-a-license.md:
		// "the license will expire when either setting's criterion is met".
		{"date and days: the earlier wins", func(l *order.Line) {
			l.Expires = day(2027, 11, 26)
			l.ExpiresInDays = 30
		}, license.Subscription, day(2025, 3, 14), day(2025, 4, 13)},
		{"date and days: the earlier date wins", func(l *order.Line) {
			l.Expires = day(2025, 4, 1)
			l.ExpiresInDays = 30
		}, license.Subscription, day(2025, 3, 14), day(2025, 4, 1)},
		{"days from order date", func(l *order.Line) {
			l.Model, l.ExpiresInDays = "trial", 30
		}, license.Trial, day(2025, 3, 14), day(2025, 4, 13)},
		{"order late in the day, in another zone", func(l *order.Line) {
			// 00:30 on 15 March at UTC+2 is still 14 March in UTC.
			l.OrderDate = time.Date(2025, 3, 15, 0, 30, 0, 0, time.FixedZone("UTC+2", 2*3600))
			l.ExpiresInDays = 1
		}, license.Subscription, day(2025, 3, 14), day(2025, 3, 15)},
		{"never", func(l *order.Line) {
			l.Model, l.ExpiresInDays = "", 0
		}, license.Permanent, day(2025, 3, 14), time.Time{}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := testenv.OrderLine(fmt.Sprintf("exp%d", i))
			tc.edit(&line)
			keys := generate(t, env, acts, line)
			require.Len(t, keys, 1)
			c, err := ring.Verify(keys[0].Key)
			require.NoError(t, err)
			assert.Equal(t, tc.model, c.Model)
			assert.True(t, c.Issued.Equal(tc.issued), "issued %v, want %v", c.Issued, tc.issued)
			assert.True(t, c.Expires.Equal(tc.expires), "expires %v, want %v", c.Expires, tc.expires)
		})
	}
}

// QLM's license models carry their binding, and a maintenance plan its end
// day, into the key (qlmdocs/fundamental-concepts/qlm-license-models.md).
func TestGenerateKeysModelAndMaintenance(t *testing.T) {
	signer, ring := newSigner(t)
	acts := &activities.Activities{Signer: signer}
	env := newEnv(acts)
	for i, name := range []string{"permanent", "trial", "subscription", "permanent_floating", "trial_floating",
		"subscription_floating", "permanent_cloud", "trial_cloud", "subscription_cloud"} {
		t.Run(name, func(t *testing.T) {
			line := testenv.OrderLine(fmt.Sprintf("model%d", i))
			line.Model, line.MaintenanceInDays = name, 180
			keys := generate(t, env, acts, line)
			c, err := ring.Verify(keys[0].Key)
			require.NoError(t, err)
			assert.Equal(t, name, license.ModelName(c.Model, c.Binding))
			assert.Equal(t, day(2025, 9, 10), c.Maintenance)
		})
	}
}

func TestGenerateKeysSerials(t *testing.T) {
	signer, ring := newSigner(t)
	acts := &activities.Activities{Signer: signer}
	env := newEnv(acts)

	line := testenv.OrderLine("548712391")
	line.Quantity, line.KeyCount, line.Seats = 3, 3, 2
	keys := generate(t, env, acts, line)
	require.Len(t, keys, 3)
	serials := map[string]bool{}
	texts := map[string]bool{}
	for _, k := range keys {
		c, err := ring.Verify(k.Key)
		require.NoError(t, err)
		assert.Equal(t, uint32(2), c.Seats)
		assert.Equal(t, 2, k.Seats)
		assert.Equal(t, fmt.Sprintf("%016x", c.Serial), k.Serial)
		serials[k.Serial] = true
		texts[k.Key] = true
	}
	assert.Len(t, serials, 3, "serials must be distinct")
	assert.Len(t, texts, 3, "keys must be distinct")

	// Another line of the same order, another order, another provider:
	// other serials.
	for _, edit := range []func(*order.Line){
		func(l *order.Line) { l.RunningNo = "2" },
		func(l *order.Line) { l.PurchaseID = "548712392" },
		func(l *order.Line) { l.Provider = "mycommerce" },
	} {
		other := line
		edit(&other)
		for _, k := range generate(t, env, acts, other) {
			assert.False(t, serials[k.Serial], "line %s reuses serial %s", other.ID(), k.Serial)
		}
	}
}

func TestGenerateKeysFailures(t *testing.T) {
	t.Run("no signer", func(t *testing.T) {
		acts := &activities.Activities{}
		_, err := newEnv(acts).ExecuteActivity(acts.GenerateKeys, testenv.OrderLine("1"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no signing key")
	})

	signer, _ := newSigner(t)
	acts := &activities.Activities{Signer: signer}
	env := newEnv(acts)
	for _, tc := range []struct {
		name string
		edit func(*order.Line)
	}{
		{"bad model", func(l *order.Line) { l.Model = "forever" }},
		{"no seats", func(l *order.Line) { l.Seats = 0 }},
		{"no order date", func(l *order.Line) { l.OrderDate = time.Time{} }},
		{"expiry before issue", func(l *order.Line) { l.Expires = day(2024, 1, 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := testenv.OrderLine("1")
			tc.edit(&line)
			_, err := env.ExecuteActivity(acts.GenerateKeys, line)
			app := appError(t, err)
			assert.True(t, app.NonRetryable(), "%s must not be retried", tc.name)
			assert.Equal(t, "BadLine", app.Type())
		})
	}
}

// A line saved on hold is marked in Postgres; cancelled, its keys are
// revoked and its email skipped; confirmed, it is no longer held.
func TestSaveHeldLineAndSettle(t *testing.T) {
	signer, _ := newSigner(t)
	st := newStore(t)
	acts := &activities.Activities{Signer: signer, Store: st.Store}
	env := newEnv(acts)
	ctx := context.Background()
	for i, status := range []string{"cancelled", "confirmed"} {
		line := testenv.OrderLine(fmt.Sprint("7700", i))
		keys := generate(t, env, acts, line)
		_, err := env.ExecuteActivity(acts.SaveOrder, line, keys, activities.Delivery{Status: "unconfirmed", Reason: "answered 503"})
		require.NoError(t, err)
		o, err := st.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: line.PurchaseID, RunningNo: "1"})
		require.NoError(t, err)
		assert.True(t, o.Held())
		assert.Equal(t, "answered 503", o.DeliveryReason)
		n, err := st.CountHeld(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		ks, delivery, err := st.LineKeys(ctx, store.Line{Provider: "shareit", PurchaseID: line.PurchaseID, RunningNo: "1"})
		require.NoError(t, err)
		assert.Equal(t, order.Keys(keys), ks)
		assert.Equal(t, "unconfirmed", delivery)
		state, err := st.KeyState(ctx, keys[0].Key)
		require.NoError(t, err)
		assert.True(t, state.Held, "a held line's key is held")

		_, err = env.ExecuteActivity(acts.SetDelivery, activities.DeliveryChange{Line: line.ID(), Status: status, Reason: "by Sam: checked"})
		require.NoError(t, err)
		o, err = st.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: line.PurchaseID, RunningNo: "1"})
		require.NoError(t, err)
		assert.Equal(t, status, o.Delivery)
		assert.Equal(t, "by Sam: checked", o.DeliveryReason)
		assert.Equal(t, status == "cancelled", o.Keys[0].RevokedAt != nil, "revoked")
		if status == "cancelled" {
			assert.Equal(t, "skipped", o.EmailStatus)
		}
		n, err = st.CountHeld(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	}
	_, err := env.ExecuteActivity(acts.SetDelivery, activities.DeliveryChange{Line: "shareit:nope-1", Status: "confirmed"})
	assert.ErrorContains(t, err, "not found")
}

func TestSaveOrder(t *testing.T) {
	signer, _ := newSigner(t)
	st := newStore(t)
	acts := &activities.Activities{Signer: signer, Store: st.Store}
	env := newEnv(acts)
	ctx := context.Background()

	line := testenv.OrderLine("548712391")
	line.Quantity, line.KeyCount, line.Seats = 2, 2, 1
	keys := generate(t, env, acts, line)

	_, err := env.ExecuteActivity(acts.SaveOrder, line, keys, activities.Delivery{})
	require.NoError(t, err)

	o, err := st.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: "548712391", RunningNo: "1"})
	require.NoError(t, err)
	assert.Empty(t, o.Delivery, "a line not held")
	assert.Equal(t, uint32(300123), o.ProductID)
	assert.Equal(t, uint32(2), o.Major)
	assert.Equal(t, uint32(4), o.Minor)
	assert.Equal(t, "Keysmith Desktop Pro", o.ProductName)
	assert.Equal(t, 2, o.Quantity)
	assert.Equal(t, "0:3;2:5", o.Features)
	assert.Equal(t, "subscription", o.LicenseModel)
	assert.True(t, o.OrderDate.Equal(testenv.OrderDate), "order date %v", o.OrderDate)
	if assert.NotNil(t, o.ExpiresAt) {
		assert.True(t, o.ExpiresAt.Equal(day(2026, 3, 14)), "expires %v", *o.ExpiresAt)
	}
	assert.Equal(t, line.Fields, o.Fields)
	assert.Equal(t, line.Args, o.Args)
	assert.Equal(t, testWorkflowID, o.WorkflowID)
	assert.Equal(t, "pending", o.EmailStatus)
	assert.Nil(t, o.EmailID)
	require.Len(t, o.Keys, 2)
	for i, k := range o.Keys {
		assert.Equal(t, i+1, k.Position)
		assert.Equal(t, keys[i].Key, k.Key)
		assert.Equal(t, keys[i].Serial, k.Serial)
		assert.Equal(t, 1, k.Seats)
	}

	c, err := st.FindCustomer(ctx, "ADA.BUYER@example.com")
	require.NoError(t, err)
	assert.Equal(t, "Ada Buyer", c.Name)
	assert.Equal(t, "Buyer GmbH", c.Company)
	assert.Equal(t, "Berlin", c.City)
	assert.Equal(t, "DE", c.ISOCode)
	assert.Equal(t, "+49 30 1234567", c.Phone)
	if assert.NotNil(t, o.CustomerID) {
		assert.Equal(t, c.ID, *o.CustomerID)
	}

	// A retried activity saves again: nothing changes, nothing is added.
	_, err = env.ExecuteActivity(acts.SaveOrder, line, keys, activities.Delivery{})
	require.NoError(t, err)
	again, err := st.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: "548712391", RunningNo: "1"})
	require.NoError(t, err)
	assert.Equal(t, o.ID, again.ID)
	require.Len(t, again.Keys, 2)
	assert.Equal(t, o.Keys[0].Key, again.Keys[0].Key)
	for table, want := range map[string]int{"orders": 1, "license_keys": 2, "customers": 1} {
		n, err := st.DB.NewSelect().Table(table).Count(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, n, "rows in %s", table)
	}
}

func TestSaveOrderWithoutCustomerOrMaps(t *testing.T) {
	signer, _ := newSigner(t)
	st := newStore(t)
	acts := &activities.Activities{Signer: signer, Store: st.Store}
	env := newEnv(acts)

	line := testenv.OrderLine("777")
	line.Customer = order.Customer{}
	line.Fields, line.Args = nil, nil
	line.Model, line.ExpiresInDays = "permanent", 0
	keys := generate(t, env, acts, line)
	_, err := env.ExecuteActivity(acts.SaveOrder, line, keys, activities.Delivery{})
	require.NoError(t, err)

	o, err := st.FindOrderLine(context.Background(), store.Line{Provider: "shareit", PurchaseID: "777", RunningNo: "1"})
	require.NoError(t, err)
	assert.Nil(t, o.CustomerID)
	assert.Nil(t, o.ExpiresAt)
	assert.Equal(t, map[string]string{}, o.Fields)
	assert.Equal(t, map[string]string{}, o.Args)
	require.Len(t, o.Keys, 1)
}

// mailFixture is the activities with a real database and the real Resend
// client talking to a fake Resend API.
type mailFixture struct {
	t      *testing.T
	acts   *activities.Activities
	env    *testsuite.TestActivityEnvironment
	store  *store.Store
	resend *resendtest.Server
}

func newMailFixture(t *testing.T) *mailFixture {
	t.Helper()
	signer, _ := newSigner(t)
	st := newStore(t)
	srv := resendtest.NewServer(t)
	sender, err := mail.NewResend(srv.APIKey, srv.URL(), nil)
	require.NoError(t, err)
	tmpl, err := mail.LoadTemplates("")
	require.NoError(t, err)
	acts := &activities.Activities{
		Signer:    signer,
		Store:     st.Store,
		Mailer:    sender,
		Templates: tmpl,
		From:      "Demo Vendor <keys@vendor.example>",
		ReplyTo:   "support@vendor.example",
	}
	return &mailFixture{t: t, acts: acts, env: newEnv(acts), store: st.Store, resend: srv}
}

// saved generates and saves the line, as the workflow does before mailing.
func (f *mailFixture) saved(line order.Line) []order.Key {
	f.t.Helper()
	keys := generate(f.t, f.env, f.acts, line)
	_, err := f.env.ExecuteActivity(f.acts.SaveOrder, line, keys, activities.Delivery{})
	require.NoError(f.t, err)
	return keys
}

func (f *mailFixture) send(req activities.EmailRequest) (string, error) {
	f.t.Helper()
	val, err := f.env.ExecuteActivity(f.acts.SendEmail, req)
	if err != nil {
		return "", err
	}
	var id string
	require.NoError(f.t, val.Get(&id))
	return id, nil
}

func (f *mailFixture) order(line order.Line) *store.OrderRow {
	f.t.Helper()
	o, err := f.store.FindOrderLine(context.Background(), store.Line{Provider: line.Provider, PurchaseID: line.PurchaseID, RunningNo: line.RunningNo})
	require.NoError(f.t, err)
	return o
}

func emailRequest(line order.Line, keys []order.Key, key string) activities.EmailRequest {
	return activities.EmailRequest{Line: line, Keys: keys, To: line.Customer.Email, IdempotencyKey: key}
}

func TestSendEmailDelivers(t *testing.T) {
	f := newMailFixture(t)
	line := testenv.OrderLine("1001")
	line.Quantity, line.KeyCount, line.Seats = 3, 3, 1
	keys := f.saved(line)

	id, err := f.send(emailRequest(line, keys, "IssueLicense:shareit:1001-1/email/1"))
	require.NoError(t, err)
	require.NotEmpty(t, id)

	got := f.resend.Delivered()
	require.Len(t, got, 1)
	e := got[0]
	assert.Equal(t, id, e.ID)
	assert.Equal(t, []string{"ada.buyer@example.com"}, e.To)
	assert.Equal(t, "Demo Vendor <keys@vendor.example>", e.From)
	assert.Equal(t, []string{"support@vendor.example"}, e.ReplyTo)
	assert.Equal(t, "IssueLicense:shareit:1001-1/email/1", e.IdempotencyKey)
	assert.Contains(t, e.Subject, "Keysmith Desktop Pro")
	assert.Contains(t, e.Text, "Ada Buyer")
	for _, k := range keys {
		assert.Contains(t, e.Text, k.Key)
		assert.Contains(t, e.HTML, k.Key)
	}

	o := f.order(line)
	assert.Equal(t, "sent", o.EmailStatus)
	if assert.NotNil(t, o.EmailID) {
		assert.Equal(t, id, *o.EmailID)
	}
	assert.NotNil(t, o.EmailedAt)
}

func TestSendEmailIdempotent(t *testing.T) {
	f := newMailFixture(t)
	line := testenv.OrderLine("1002")
	keys := f.saved(line)
	req := emailRequest(line, keys, "IssueLicense:shareit:1002-1/email/1")

	first, err := f.send(req)
	require.NoError(t, err)
	second, err := f.send(req)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	assert.Len(t, f.resend.Delivered(), 1, "the same idempotency key must deliver once")
	assert.Equal(t, 2, f.resend.Attempts())
	assert.Equal(t, "sent", f.order(line).EmailStatus)
}

func TestSendEmailPermanentFailure(t *testing.T) {
	f := newMailFixture(t)
	line := testenv.OrderLine("1003")
	keys := f.saved(line)
	f.resend.FailNext(1, 422, "validation_error")

	_, err := f.send(emailRequest(line, keys, "k-1003"))
	app := appError(t, err)
	assert.True(t, app.NonRetryable())
	assert.Equal(t, "MailPermanent", app.Type())
	assert.True(t, strings.HasPrefix(app.Message(), "resend: 422"), "message %q", app.Message())
	assert.Empty(t, f.resend.Delivered())

	o := f.order(line)
	assert.Equal(t, "failed", o.EmailStatus)
	assert.Nil(t, o.EmailID)
}

func TestSendEmailTransientFailure(t *testing.T) {
	f := newMailFixture(t)
	line := testenv.OrderLine("1004")
	keys := f.saved(line)
	f.resend.FailNext(1, 503, "")

	_, err := f.send(emailRequest(line, keys, "k-1004"))
	app := appError(t, err)
	assert.False(t, app.NonRetryable(), "a 503 must be retried")
	assert.Equal(t, "MailTransient", app.Type())
	assert.True(t, strings.HasPrefix(app.Message(), "resend: 503"), "message %q", app.Message())
	// Not the last attempt (the test environment has no retry policy): the
	// order still waits for its email.
	assert.Equal(t, "pending", f.order(line).EmailStatus)

	// The retry goes through with the same key.
	id, err := f.send(emailRequest(line, keys, "k-1004"))
	require.NoError(t, err)
	assert.Len(t, f.resend.Delivered(), 1)
	assert.Equal(t, "sent", f.order(line).EmailStatus)
	assert.Equal(t, id, *f.order(line).EmailID)
}

func TestSendEmailRateLimited(t *testing.T) {
	f := newMailFixture(t)
	line := testenv.OrderLine("1005")
	keys := f.saved(line)
	f.resend.FailNext(1, 429, "")

	_, err := f.send(emailRequest(line, keys, "k-1005"))
	app := appError(t, err)
	assert.False(t, app.NonRetryable())
	assert.Greater(t, app.NextRetryDelay(), time.Duration(0), "Retry-After must reach Temporal")
	assert.Equal(t, time.Second, app.NextRetryDelay(), "resendtest answers retry-after: 1")
	assert.Equal(t, "pending", f.order(line).EmailStatus)
}

func TestSendEmailNeverShowsAPIKey(t *testing.T) {
	f := newMailFixture(t)
	apiKey := f.resend.APIKey
	line := testenv.OrderLine("1006")
	keys := f.saved(line)

	check := func(name string, err error) {
		t.Helper()
		app := appError(t, err)
		assert.NotContains(t, err.Error(), apiKey, name)
		assert.NotContains(t, app.Message(), apiKey, name)
	}

	// A provider that echoes the key in its error name.
	f.resend.FailNext(1, 400, apiKey)
	_, err := f.send(emailRequest(line, keys, "k-1006-a"))
	check("echoed key", err)
	assert.Contains(t, err.Error(), "[api key]")

	for _, status := range []int{401, 403, 422, 429, 500, 503} {
		f.resend.FailNext(1, status, "")
		_, err := f.send(emailRequest(line, keys, fmt.Sprintf("k-1006-%d", status)))
		check(fmt.Sprintf("status %d", status), err)
	}

	// A wrong key: the server refuses it.
	wrongKey := "re_wrong_" + strings.Repeat("x", 20)
	wrong, err := mail.NewResend(wrongKey, f.resend.URL(), nil)
	require.NoError(t, err)
	acts := *f.acts
	acts.Mailer = wrong
	env := newEnv(&acts)
	_, err = env.ExecuteActivity(acts.SendEmail, emailRequest(line, keys, "k-1006-wrong"))
	app := appError(t, err)
	assert.True(t, app.NonRetryable(), "a wrong API key will not become right")
	assert.NotContains(t, err.Error(), wrongKey)

	// No answer at all.
	f.resend.Close()
	_, err = f.send(emailRequest(line, keys, "k-1006-down"))
	check("server down", err)
	assert.False(t, appError(t, err).NonRetryable(), "a network failure must be retried")
}

func TestSendEmailUnknownTemplate(t *testing.T) {
	f := newMailFixture(t)
	line := testenv.OrderLine("1007")
	keys := f.saved(line)
	line.Email.Template = "nope"

	_, err := f.send(emailRequest(line, keys, "k-1007"))
	app := appError(t, err)
	assert.True(t, app.NonRetryable())
	assert.Equal(t, "Template", app.Type())
	assert.Contains(t, app.Message(), "nope")
	assert.Zero(t, f.resend.Attempts(), "nothing may be sent")
}

func TestValidAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"ada.buyer@example.com", true},
		{"A.Buyer+keys@Example.COM", true},
		{"jürgen@example.de", true},
		{"a@b", true},
		{"", false},
		{"not-an-address", false},
		{"@example.com", false},
		{"ada@", false},
		{"Ada Buyer <ada@example.com>", false},
		{"<ada@example.com>", false},
		{" ada@example.com", false},
		{"ada@example.com ", false},
		{"ada@example.com, bob@example.com", false},
		{"ada@example.com (Ada)", false},
		{"a..b@example.com", false},
		{"ada@example.com\r\nBcc: x@example.com", false},
	} {
		assert.Equal(t, tc.want, activities.ValidAddress(tc.addr), "ValidAddress(%q)", tc.addr)
	}
}
