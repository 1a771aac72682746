package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

const getKey = "/qlmservice.asmx/GetActivationKey"

// A new order, sent in either of ShareIt's character sets: the key comes
// back at once and verifies offline; then the customer, the order with all
// its fields and the key are in Postgres and the buyer has the email.
func TestNewOrderEndToEnd(t *testing.T) {
	s := newStack(t)
	cases := []struct {
		name, body string
	}{
		{"utf8", orderForm(s.purchase(1), 1, "ADD%5BLICENSEENUMBER%5D=L-77", "X_UNKNOWN=kept")},
		{"latin1", strings.NewReplacer(
			"ENCODING=UTF8", "ENCODING=",
			"J%C3%BCrgen", "J%FCrgen", "M%C3%BCller", "M%FCller", "K%C3%B6ln", "K%F6ln", "Hauptstra%C3%9Fe", "Hauptstra%DFe",
		).Replace(orderForm(s.purchase(2), 1, "ADD%5BLICENSEENUMBER%5D=L-77", "X_UNKNOWN=kept"))},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			purchase := s.purchase(i + 1)
			status, key := s.post(getKey, qlmQuery, tc.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, key)
			}
			claims, err := s.ring.Verify(key)
			if err != nil {
				t.Fatalf("key %q does not verify: %v", key, err)
			}
			want := license.Claims{Product: 1, Major: 1, Minor: 0, Features: license.Features{3, 1, 0, 0},
				Seats: 1, Model: license.Permanent, Issued: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
				Serial: claims.Serial, KeyID: 1}
			if claims != want {
				t.Errorf("claims = %+v, want %+v", claims, want)
			}

			id := workflows.IssueLicenseID("shareit", purchase, "1")
			res := s.waitWorkflow(id)
			s.recordHistory(id, "issue_license_"+tc.name+".json")
			if h := string(s.historyJSON(id)); strings.Contains(h, password) || strings.Contains(h, "is_pwd") || strings.Contains(h, "is_user") {
				t.Error("the provider's credentials are in the workflow history")
			}
			if res.EmailStatus != workflows.EmailSent || len(res.Keys) != 1 || res.Keys[0] != key {
				t.Errorf("workflow result = %+v", res)
			}
			ctx := context.Background()
			o, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: purchase, RunningNo: "1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Keys) != 1 || o.Keys[0].Key != key || o.Keys[0].Seats != 1 {
				t.Errorf("stored keys = %+v", o.Keys)
			}
			if o.Fields["ADD[LICENSEENUMBER]"] != "L-77" || o.Fields["X_UNKNOWN"] != "kept" || o.Fields["FIRSTNAME"] != "Jürgen" {
				t.Errorf("stored fields = %v", o.Fields)
			}
			if _, ok := o.Args["is_pwd"]; ok || o.Args["is_features"] != "0:3;1:1" {
				t.Errorf("stored args = %v", o.Args)
			}
			if o.EmailStatus != "sent" || o.EmailID == nil {
				t.Errorf("email status = %q, id %v", o.EmailStatus, o.EmailID)
			}
			c, err := s.app.Store.FindCustomer(ctx, "JUERGEN@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != "Jürgen Müller" || c.Company != "Müller GmbH" || c.City != "Köln" || c.Street != "Hauptstraße 1" || c.ISOCode != "DE" {
				t.Errorf("customer = %+v", c)
			}
			if o.CustomerID == nil || *o.CustomerID != c.ID {
				t.Errorf("order's customer = %v, want %d", o.CustomerID, c.ID)
			}
		})
	}

	// Both orders came from the same buyer: one customer, two emails.
	var customers int
	if err := s.db.DB.NewSelect().Table("customers").ColumnExpr("count(*)").Scan(context.Background(), &customers); err != nil || customers != 1 {
		t.Errorf("customers = %d (%v), want 1", customers, err)
	}
	mails := s.resend.Delivered()
	if len(mails) != 2 {
		t.Fatalf("delivered %d emails, want 2", len(mails))
	}
	for _, m := range mails {
		if len(m.To) != 1 || m.To[0] != "juergen@example.com" || !strings.Contains(m.Text, "Jürgen Müller") ||
			!strings.Contains(m.Subject, "Demo App") || !strings.Contains(m.Text, "Pro, Export, Cloud sync") {
			t.Errorf("email = %+v", m)
		}
	}
	for _, o := range []string{s.purchase(1), s.purchase(2)} {
		stored, _ := s.app.Store.FindOrderLine(context.Background(), store.Line{Provider: "shareit", PurchaseID: o, RunningNo: "1"})
		found := false
		for _, m := range mails {
			found = found || strings.Contains(m.Text, stored.Keys[0].Key)
		}
		if !found {
			t.Errorf("no email carries the key of order %s", o)
		}
	}
}

// The same order line, asked again later and fifty times at once, gets one
// workflow, one key and one email.
func TestSameLineSameKey(t *testing.T) {
	s := newStack(t)
	body := orderForm(s.purchase(1), 1)

	const n = 50
	keys := make([]string, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], keys[i] = s.post(getKey, qlmQuery, body)
		}()
	}
	wg.Wait()
	for i := range n {
		if statuses[i] != http.StatusOK || keys[i] != keys[0] {
			t.Fatalf("call %d: %d %q, want 200 %q", i, statuses[i], keys[i], keys[0])
		}
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	s.waitWorkflow(id)

	// Later, once stored: the same key.
	status, again := s.post(getKey, qlmQuery, body)
	if status != http.StatusOK || again != keys[0] {
		t.Errorf("repeat after completion: %d %q, want %q", status, again, keys[0])
	}
	// Different request details for a stored line change nothing.
	status, again = s.post(getKey, strings.Replace(qlmQuery, "0:3;1:1", "0:1", 1), body)
	if status != http.StatusOK || again != keys[0] {
		t.Errorf("repeat with other features: %d %q, want the stored key", status, again)
	}

	runs := 0
	it := s.app.Temporal.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetWorkflowExecutionStartedEventAttributes() != nil {
			runs++
		}
	}
	if n := s.countWorkflows(fmt.Sprintf("WorkflowId = '%s'", id), 1); runs != 1 || n != 1 {
		t.Errorf("runs = %d, executions = %d, want 1", runs, n)
	}
	var stored int
	if err := s.db.DB.NewSelect().Table("license_keys").ColumnExpr("count(*)").Scan(context.Background(), &stored); err != nil || stored != 1 {
		t.Errorf("license_keys rows = %d (%v), want 1", stored, err)
	}
	if got := len(s.resend.Delivered()); got != 1 {
		t.Errorf("delivered %d emails, want 1", got)
	}
}

// After the namespace's retention the workflow is gone and Temporal cannot
// answer a repeat; Postgres does. Simulated by an API whose Temporal is
// unreachable.
func TestRepeatServedFromPostgres(t *testing.T) {
	s := newStack(t)
	body := orderForm(s.purchase(1), 1)
	status, key := s.post(getKey, qlmQuery, body)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1"))

	gone, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	s.app.Temporal = gone
	s.app.Env.KeyTimeout = 2 * time.Second
	s.restartAPI()

	status, again := s.post(getKey, qlmQuery, body)
	if status != http.StatusOK || again != key {
		t.Errorf("stored order: %d %q, want %q", status, again, key)
	}
	// A line that is not stored needs Temporal: an honest 503, no key.
	status, reason := s.post(getKey, qlmQuery, orderForm(s.purchase(2), 1))
	if status != http.StatusServiceUnavailable || strings.Contains(reason, "-") {
		t.Errorf("new order without Temporal: %d %q, want 503", status, reason)
	}
}

// One key per license: QUANTITY keys, each with is_numberofactivationsperkey
// seats; and one key carrying all seats by default.
func TestKeysPerLicense(t *testing.T) {
	s := newStack(t)
	status, body := s.post(getKey, qlmQuery+"&is_usemultipleactivationskey=false&is_numberofactivationsperkey=2",
		strings.Replace(orderForm(s.purchase(1), 1), "QUANTITY=1", "QUANTITY=3", 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	keys := strings.Split(body, "\n")
	if len(keys) != 3 {
		t.Fatalf("got %d keys, want 3: %q", len(keys), body)
	}
	serials := map[uint64]bool{}
	for _, k := range keys {
		c, err := s.ring.Verify(k)
		if err != nil || c.Seats != 2 {
			t.Errorf("key %q: %+v %v", k, c, err)
		}
		serials[c.Serial] = true
	}
	if len(serials) != 3 {
		t.Errorf("serials not distinct: %v", serials)
	}

	status, body = s.post(getKey, qlmQuery, strings.Replace(orderForm(s.purchase(2), 1), "QUANTITY=1", "QUANTITY=5", 1))
	c, err := s.ring.Verify(body)
	if status != http.StatusOK || err != nil || c.Seats != 5 {
		t.Errorf("one key for 5 seats: %d %q %+v %v", status, body, c, err)
	}
	s.waitWorkflow(workflows.IssueLicenseID("shareit", s.purchase(1), "1"))
	if m := s.resend.Delivered(); len(m) < 1 || !strings.Contains(m[0].Text, keys[2]) {
		t.Errorf("email does not list every key")
	}
}

// The newer MyCommerce style: no product in the URL, the PRODUCT_ID mapped
// in the configuration; and QLM's GetActivationKeyWithExpiryDate.
func TestWebhookAndExpiry(t *testing.T) {
	s := newStack(t)
	status, key := s.post("/QlmService.asmx/QlmWebHookHandler", "is_vendor=shareit&is_user=shareit&is_pwd="+password, orderForm(s.purchase(1), 1))
	c, err := s.ring.Verify(key)
	if status != http.StatusOK || err != nil || c.Product != 1 || c.Features != (license.Features{3, 1, 0, 0}) {
		t.Errorf("webhook: %d %q %+v %v", status, key, c, err)
	}
	status, key = s.post(withExpiry, qlmQuery+"&is_licensemodel=subscription&is_expdate=2027-11-26", orderForm(s.purchase(2), 1))
	c, err = s.ring.Verify(key)
	if status != http.StatusOK || err != nil || c.Model != license.Subscription || !c.Expires.Equal(time.Date(2027, 11, 26, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expiry date: %d %q %+v %v", status, key, c, err)
	}
	status, key = s.do(http.MethodGet, getKey+"?"+qlmQuery+"&is_licensemodel=trial&is_expduration=30&"+orderForm(s.purchase(3), 1), "", nil)
	c, err = s.ring.Verify(key)
	if status != http.StatusOK || err != nil || c.Model != license.Trial || !c.Expires.Equal(time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("GET with expiry duration: %d %q %+v %v", status, key, c, err)
	}
}

// Every call that would key the wrong thing or serve the wrong caller gets
// a 4xx with a plain reason, never a key, and starts no workflow; nothing
// stored is changed by it. (Doubtful but keyable input is accepted with a
// warning: see the compatibility corpus.)
func TestBadInput(t *testing.T) {
	s := newStack(t)
	stored := orderForm(s.purchase(0), 1)
	status, key := s.post(getKey, qlmQuery, stored)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}

	basic := func(r *http.Request) { r.SetBasicAuth("basic", password) }
	cases := []struct {
		name   string
		path   string
		query  string
		body   string
		edit   func(*http.Request)
		status int
		reason string
	}{
		{"wrong password", getKey, strings.Replace(qlmQuery, password, "wrong-password", 1), "", nil, 401, "is_user/is_pwd: wrong or missing credentials"},
		{"no credentials", getKey, strings.Replace(qlmQuery, "&is_user=shareit&is_pwd="+password, "", 1), "", nil, 401, "is_user/is_pwd: wrong or missing credentials"},
		{"unknown vendor", getKey, strings.Replace(qlmQuery, "ShareIt", "Avangate", 1), "", nil, 401, "is_vendor: unknown provider"},
		{"basic auth missing", getKey, strings.Replace(qlmQuery, "ShareIt", "guarded", 1), "", nil, 401, "wrong or missing basic auth credentials"},
		{"address not allowed", getKey, strings.Replace(qlmQuery, "ShareIt", "faraway", 1), "", nil, 403, "caller's address is not allowed"},
		{"unknown product", getKey, strings.Replace(qlmQuery, "is_productid=1", "is_productid=99", 1), "", nil, 400, "is_productid: unknown product 99"},
		{"unknown version", getKey, strings.Replace(qlmQuery, "is_majorversion=1", "is_majorversion=5", 1), "", nil, 400, "product 1 has no version 5.0"},
		{"malformed features", getKey, strings.Replace(qlmQuery, "0:3;1:1", "7:1", 1), "", nil, 400, "is_features"},
		{"quantity zero", getKey, qlmQuery, "QUANTITY=0&" + stored, nil, 400, "QUANTITY"},
		{"is_quantity zero", getKey, qlmQuery + "&is_quantity=0", "", nil, 400, "is_quantity"},
		{"too many keys", getKey, qlmQuery + "&is_quantity=1001&is_usemultipleactivationskey=false", "", nil, 400, "more than 1000 in one call"},
		{"too many seats", getKey, qlmQuery + "&is_quantity=2000000000&is_numberofactivationsperkey=2", "", nil, 400, "seats"},
		{"expiry before the order", "/qlmservice.asmx/GetActivationKeyWithExpiryDate", qlmQuery + "&is_expdate=2026-11-01", "", nil, 400, "is_expdate: 2026-11-01 is not after the order date 2026-11-26"},
		{"expiry past what a key holds", "/qlmservice.asmx/GetActivationKeyWithExpiryDate", qlmQuery + "&is_expduration=100000", "", nil, 400, "the last day a key holds"},
		{"unreadable expiry", "/qlmservice.asmx/GetActivationKeyWithExpiryDate", qlmQuery + "&is_expdate=next+year", "", nil, 400, "is_expdate"},
		{"no purchase id", getKey, qlmQuery, "RUNNING_NO=1&EMAIL=a%40example.com", nil, 400, "PURCHASE_ID"},
		{"unprintable running no", getKey, qlmQuery, "PURCHASE_ID=" + s.purchase(0) + "&RUNNING_NO=1%01", nil, 400, "RUNNING_NO"},
		{"bad license model", getKey, qlmQuery + "&is_licensemodel=forever", "", nil, 400, "is_licensemodel"},
		{"unmapped product", "/qlmservice.asmx/QlmWebHookHandler", "is_vendor=shareit&is_user=shareit&is_pwd=" + password, "PRODUCT_ID=123&" + stored, nil, 400, "PRODUCT_ID"},
		{"version needed", getKey, strings.Replace(strings.Replace(qlmQuery, "&is_majorversion=1", "", 1), "&is_minorversion=0", "", 1), "", nil, 400, "versions 1.0, 2.0"},
		{"guarded with wrong basic", getKey, strings.Replace(qlmQuery, "ShareIt", "guarded", 1), "", func(r *http.Request) { r.SetBasicAuth("basic", "nope") }, 401, "basic auth"},
		{"guarded with basic but wrong qlm", getKey, strings.Replace(strings.Replace(qlmQuery, "ShareIt", "guarded", 1), password, "x", 1), "", basic, 401, "is_user/is_pwd"},
		{"unknown path", "/qlmservice.asmx/Nope", qlmQuery, "", nil, 404, "no such endpoint"},
		{"query too long", getKey, qlmQuery + "&x=" + strings.Repeat("a", 9000), "", nil, 414, "query"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// By default the stored order's line: bad input must not touch
			// it. A field given first wins over the same field later.
			body := tc.body
			if body == "" {
				body = stored
			}
			status, reason := s.do(http.MethodPost, tc.path+"?"+tc.query, body, tc.edit)
			if status != tc.status || !strings.Contains(reason, tc.reason) || strings.Contains(reason, "\n") {
				t.Errorf("got %d %q, want %d with %q", status, reason, tc.status, tc.reason)
			}
			if strings.Contains(reason, password) || strings.Contains(reason, key[:20]) {
				t.Errorf("reason leaks a secret or a key: %q", reason)
			}
		})
	}
	// The guarded provider works with both basic auth and QLM credentials.
	status, k := s.do(http.MethodPost, getKey+"?"+strings.Replace(qlmQuery, "ShareIt", "guarded", 1), orderForm(s.purchase(1), 1), basic)
	if _, err := s.ring.Verify(k); status != http.StatusOK || err != nil {
		t.Errorf("guarded provider: %d %q %v", status, k, err)
	}

	// Only the two good orders started workflows.
	ctx := context.Background()
	if n := s.countWorkflows(fmt.Sprintf("TaskQueue = '%s'", s.app.Env.TaskQueue), 2); n != 2 {
		t.Errorf("%d workflows started, want 2", n)
	}
	status, again := s.post(getKey, qlmQuery, stored)
	if status != http.StatusOK || again != key {
		t.Errorf("stored order after bad input: %d %q, want %q", status, again, key)
	}
	o, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(0), RunningNo: "1"})
	if err != nil || len(o.Keys) != 1 || o.Keys[0].Key != key || o.Features != "0:3;1:1" {
		t.Errorf("stored order changed: %+v %v", o, err)
	}
}

// Postgres down when an order arrives: the key is issued all the same, and
// the order is saved and mailed once the database is back.
func TestDatabaseOutage(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	setConnections := func(allow bool) {
		t.Helper()
		if err := testenv.AllowConnections(ctx, s.db, allow); err != nil {
			t.Fatal(err)
		}
	}
	setConnections(false)
	t.Cleanup(func() { setConnections(true) })

	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if _, err := s.ring.Verify(key); status != http.StatusOK || err != nil {
		t.Fatalf("key during the outage: %d %q %v", status, key, err)
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	// The save, a local activity, retries inside the workflow's task: the
	// workflow runs on, nothing saved or mailed.
	time.Sleep(3 * time.Second)
	d, err := s.app.Temporal.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := d.RawResponse.GetWorkflowExecutionInfo().GetStatus(); st != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("workflow %v during the outage, want running", st)
	}
	if len(s.resend.Delivered()) != 0 {
		t.Error("mailed before the order was saved")
	}

	setConnections(true)
	res := s.waitWorkflow(id)
	if res.EmailStatus != workflows.EmailSent {
		t.Errorf("email status %q", res.EmailStatus)
	}
	o, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || len(o.Keys) != 1 || o.Keys[0].Key != key {
		t.Errorf("stored after the outage: %+v %v", o, err)
	}
}
