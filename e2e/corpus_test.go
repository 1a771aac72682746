package e2e

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.yaml.in/yaml/v3"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/workflows"
)

// corpusCase is one entry of storefront/shareit/testdata/corpus.yaml: calls in the
// shapes QLM's and ShareIt's documentation give, and what each must get.
type corpusCase struct {
	Name   string       `yaml:"name"`
	Source string       `yaml:"source"`
	Calls  []corpusCall `yaml:"calls"`
}

type corpusCall struct {
	Method string `yaml:"method"`
	URL    string `yaml:"url"`
	Body   string `yaml:"body"`
	// FastSpring's: the remote request's form (signed unless Sign is
	// "wrong" or "none"), or a webhook's JSON (signed unless Signature
	// is), and a Content-Type in place of the call's.
	Form        map[string]string `yaml:"form"`
	Sign        string            `yaml:"sign"`
	Webhook     string            `yaml:"webhook"`
	Signature   string            `yaml:"signature"`
	ContentType string            `yaml:"content_type"`
	// Stripe's: an event, whose objects are registered in the stand-in of
	// Stripe's API before the call (signed unless Signature says wrong,
	// stale or none).
	Stripe *corpusStripe `yaml:"stripe"`
	Want   corpusWant    `yaml:"want"`
}

type corpusWant struct {
	Status    int               `yaml:"status"`
	Keys      int               `yaml:"keys"`
	Claims    map[string]string `yaml:"claims"`
	Reason    string            `yaml:"reason"`
	Warnings  []string          `yaml:"warnings"`
	Customer  map[string]string `yaml:"customer"`
	Fields    map[string]string `yaml:"fields"`
	SameKeyAs *int              `yaml:"same_key_as"`
	// Renews is the call of the case whose line this one renews: its keys
	// keep that call's serials and issue day.
	Renews      *int   `yaml:"renews"`
	ProductName string `yaml:"product_name"`
	EmailTo     string `yaml:"email_to"`
	EmailStatus string `yaml:"email_status"`
	// Line is the line a call keys, for a storefront whose fields are not
	// ShareIt's; Lines those a notification keys, Ack its answer; Repeat
	// says the call keys nothing new.
	Line   string   `yaml:"line"`
	Lines  []string `yaml:"lines"`
	Ack    string   `yaml:"ack"`
	Repeat bool     `yaml:"repeat"`
	// Revoked says what a Stripe event that keys nothing new (repeat)
	// did to its lines' keys: true, revoked by the event's RevokeLicense
	// workflow; false, kept.
	Revoked *bool `yaml:"revoked"`
}

func loadCorpus(t *testing.T, path string) []corpusCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []corpusCase
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("corpus.yaml: %v", err)
	}
	return cases
}

// TestCompatibilityCorpus sends every call of ShareIt's corpus to the real
// stack and checks the answer, every key's claims and what was stored.
func TestCompatibilityCorpus(t *testing.T) {
	runCorpus(t, "../storefront/shareit/testdata/corpus.yaml")
}

// TestFastSpringCorpus does the same with FastSpring's: remote requests
// and webhooks, signed as FastSpring signs them.
func TestFastSpringCorpus(t *testing.T) {
	runCorpus(t, "../storefront/fastspring/testdata/corpus.yaml")
}

// TestStripeCorpus does the same with Stripe's events, signed as Stripe
// signs them, the orders they name read from the stack's stand-in of
// Stripe's API.
func TestStripeCorpus(t *testing.T) {
	runCorpus(t, "../storefront/stripe/testdata/corpus.yaml")
}

func runCorpus(t *testing.T, path string) {
	s := newStack(t)
	fill := strings.NewReplacer("{pwd}", url.QueryEscape(password), "{id}", s.prefix).Replace
	tally := newCorpusTally()
	for _, tc := range loadCorpus(t, path) {
		t.Run(tc.Name, func(t *testing.T) {
			var answers []string
			run := &corpusRun{}
			for i, c := range tc.Calls {
				method := c.Method
				if method == "" {
					method = http.MethodPost
				}
				// {key:N} is call N's first key, as a rebilling call sends it.
				withKeys := func(text string) string {
					for n, a := range answers {
						text = strings.ReplaceAll(text, "{key:"+strconv.Itoa(n)+"}", url.QueryEscape(strings.Split(a, "\n")[0]))
					}
					return fill(text)
				}
				target, body, edit := withKeys(c.URL), withKeys(c.Body), c.request(fill)
				if c.Form != nil || c.Webhook != "" {
					body = c.fastSpringBody(fill)
				}
				if c.Stripe != nil {
					body, edit = s.stripeCall(t, c, fill)
				}
				ids := c.lines(t, fill, target, body)
				if method == http.MethodGet {
					body = ""
				}
				status, answer := s.do(method, target, body, edit)
				answers = append(answers, answer)
				if !run.answered(t, i, ids, status, answer, c.Want) {
					continue
				}
				if c.notification() {
					if want := fill(c.Want.Ack); answer != want {
						t.Errorf("call %d: answer %q, want %q", i, answer, want)
					}
				}
				var event string
				if c.Stripe != nil {
					event = fill(c.Stripe.Event)
				}
				s.checkLines(t, run, tally, i, answer, c.notification(), event, c.Want.filled(fill))
			}
		})
	}
	s.checkStarted(t, tally)
}

// corpusTally is what a corpus run started, across its cases: the lines it
// keyed and the RevokeLicense workflows.
type corpusTally struct {
	keyed       int
	revocations map[string]bool
}

func newCorpusTally() *corpusTally { return &corpusTally{revocations: map[string]bool{}} }

// corpusRun is what a case's calls leave for the later ones: each call's
// lines, and its keys (a notification's, its first line's).
type corpusRun struct {
	lines  [][]order.LineID
	keysOf []string
}

// answered records call i's lines and answer, checks its status (and a
// refusal's reason, which never holds the password), and reports whether
// it was keyed (200).
func (run *corpusRun) answered(t *testing.T, i int, ids []order.LineID, status int, answer string, want corpusWant) bool {
	t.Helper()
	run.lines = append(run.lines, ids)
	run.keysOf = append(run.keysOf, answer)
	if status != want.Status {
		t.Fatalf("call %d: status %d %q, want %d", i, status, answer, want.Status)
	}
	if status != http.StatusOK {
		if !strings.Contains(answer, want.Reason) || strings.Contains(answer, password) {
			t.Errorf("call %d: reason %q, want it to hold %q", i, answer, want.Reason)
		}
		return false
	}
	return true
}

// filled is want with the run's placeholders filled in.
func (w corpusWant) filled(fill func(string) string) corpusWant {
	w.EmailTo = fill(w.EmailTo)
	fields := make(map[string]string, len(w.Fields))
	for k, v := range w.Fields {
		fields[k] = fill(v)
	}
	w.Fields = fields
	warnings := make([]string, len(w.Warnings))
	for k, v := range w.Warnings {
		warnings[k] = fill(v)
	}
	w.Warnings = warnings
	return w
}

// checkLines checks the lines call i keyed: their keys (the answer, or
// for a notification, keyed in the background, the workflow's), the same
// key as an earlier call's, a renewal's serials and issue day, the claims
// and what was stored, and what event (a notification's event id) did to
// the keys (want.revoked).
func (s *stack) checkLines(t *testing.T, run *corpusRun, tally *corpusTally, i int, answer string, background bool, event string, want corpusWant) {
	t.Helper()
	ids := run.lines[i]
	if want.SameKeyAs == nil && !want.Repeat {
		tally.keyed += len(ids)
	}
	for j, id := range ids {
		var original *order.Original
		if n := want.Renews; n != nil {
			original = &order.Original{LineID: run.lines[*n][0]}
		}
		keys := answer
		if background {
			keys = s.keysOf(t, i, id, original)
			if j == 0 {
				run.keysOf[i] = keys
			}
		}
		if n := want.SameKeyAs; n != nil && keys != run.keysOf[*n] {
			t.Errorf("call %d: key %q, want call %d's %q", i, keys, *n, run.keysOf[*n])
		}
		if n := want.Renews; n != nil {
			checkSerials(t, i, s.ring, keys, run.keysOf[*n])
		}
		if want.SameKeyAs == nil && !want.Repeat {
			s.checkCorpusCall(t, i, id, keys, original, want)
		}
		if want.Revoked != nil {
			if event == "" {
				t.Fatalf("call %d: want.revoked needs the call's event", i)
			}
			s.checkRevoked(t, i, id, keys, event, *want.Revoked, tally.revocations)
		}
	}
}

// checkStarted checks that refused calls started nothing: every workflow
// of the run belongs to a keyed line, or revokes one.
func (s *stack) checkStarted(t *testing.T, tally *corpusTally) {
	t.Helper()
	if want := int64(tally.keyed + len(tally.revocations)); s.countWorkflows("TaskQueue = '"+s.app.Env.TaskQueue+"'", want) != want {
		t.Errorf("workflows started: want one per keyed line (%d) and revocation (%d)", tally.keyed, len(tally.revocations))
		resp, _ := s.app.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "TaskQueue = '" + s.app.Env.TaskQueue + "'"})
		for _, e := range resp.GetExecutions() {
			t.Logf("workflow %s: %s", e.GetExecution().GetWorkflowId(), e.GetStatus())
		}
	}
}

// notification reports whether the call is a webhook's, answered at once
// and keyed in the background.
func (c corpusCall) notification() bool { return c.Webhook != "" || c.Stripe != nil }

// request sets what a FastSpring call adds to the request: its
// Content-Type and the webhook's signature.
func (c corpusCall) request(fill func(string) string) func(*http.Request) {
	return func(r *http.Request) {
		if c.Webhook != "" {
			r.Header.Set("Content-Type", "application/json")
			body := fill(c.Webhook)
			switch c.Signature {
			case "":
				r.Header.Set("X-FS-Signature", testenv.FastSpringSignature([]byte(body)))
			case "wrong":
				r.Header.Set("X-FS-Signature", testenv.FastSpringSignature([]byte(body+" ")))
			}
		}
		if c.ContentType != "" {
			r.Header.Set("Content-Type", c.ContentType)
		}
	}
}

// fastSpringBody is a FastSpring call's body: the webhook's JSON, or the
// remote request's form with its security_request_hash.
func (c corpusCall) fastSpringBody(fill func(string) string) string {
	if c.Webhook != "" {
		return fill(c.Webhook)
	}
	form := url.Values{}
	for k, v := range c.Form {
		form.Set(k, fill(v))
	}
	switch c.Sign {
	case "":
		form.Set("security_request_hash", testenv.FastSpringHash(form))
	case "wrong":
		form.Set("security_request_hash", testenv.FastSpringHash(url.Values{"other": {"values"}}))
	}
	return form.Encode()
}

// lines are the order lines a call keys: want.line or want.lines, else
// the ShareIt line its fields name.
func (c corpusCall) lines(t *testing.T, fill func(string) string, target, body string) []order.LineID {
	t.Helper()
	var names []string
	switch {
	case c.Want.Line != "":
		names = []string{c.Want.Line}
	case len(c.Want.Lines) > 0:
		names = c.Want.Lines
	case c.Form != nil || c.notification():
		return nil
	default:
		provider, purchase, running := lineOf(t, target, body)
		return []order.LineID{{Provider: provider, PurchaseID: purchase, RunningNo: running}}
	}
	var ids []order.LineID
	for _, n := range names {
		id, err := order.ParseName(fill(n))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// keysOf are the keys of a line keyed in the background, once its
// workflow is done.
func (s *stack) keysOf(t *testing.T, i int, id order.LineID, original *order.Original) string {
	t.Helper()
	_, wf, _ := workflows.LineWorkflow(order.Line{LineID: id, Renews: original})
	res := s.waitWorkflow(wf)
	if len(res.Keys) == 0 {
		t.Fatalf("call %d: line %s has no keys", i, id)
	}
	return strings.Join(res.Keys, "\n")
}

// checkRevoked checks what a notification's event did to a line's keys
// (want.revoked): revoked, by the RevokeLicense workflow of the line and
// the event (noted in revocations) having revoked each key, or kept, with
// no such workflow; and the store says so of each key.
func (s *stack) checkRevoked(t *testing.T, i int, id order.LineID, keys, event string, revoked bool, revocations map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wf := workflows.RevokeLicenseID(id.Name(), "event-"+event)
	ks := strings.Split(keys, "\n")
	if revoked {
		var n int
		if err := s.app.Temporal.GetWorkflow(ctx, wf, "").Get(ctx, &n); err != nil {
			t.Fatalf("call %d: %s: %v", i, wf, err)
		}
		if n != len(ks) {
			t.Errorf("call %d: %s revoked %d keys, want %d", i, wf, n, len(ks))
		}
		revocations[wf] = true
	} else if _, err := s.app.Temporal.DescribeWorkflow(ctx, wf, ""); err == nil {
		// Started before the answer, if at all.
		t.Errorf("call %d: %s started, want the keys kept", i, wf)
	}
	for _, k := range ks {
		if st, err := s.app.Store.KeyState(ctx, k); err != nil || st.Revoked != revoked {
			t.Errorf("call %d: key of %s: revoked %v (%v), want %v", i, id, st.Revoked, err, revoked)
		}
	}
}

// checkCorpusCall checks one keyed call: the keys' claims, then, once its
// workflow is done, the stored order line, customer and email.
func (s *stack) checkCorpusCall(t *testing.T, i int, id order.LineID, answer string, original *order.Original, want corpusWant) {
	t.Helper()
	keys := strings.Split(answer, "\n")
	if want.Keys != 0 && len(keys) != want.Keys {
		t.Errorf("call %d: %d keys, want %d", i, len(keys), want.Keys)
	}
	for _, k := range keys {
		c, err := s.ring.Verify(k)
		if err != nil {
			t.Fatalf("call %d: key %q does not verify: %v", i, k, err)
		}
		checkClaims(t, i, c, want.Claims)
	}

	_, wf, _ := workflows.LineWorkflow(order.Line{LineID: id, Renews: original})
	res := s.waitWorkflow(wf)
	if strings.Join(res.Keys, "\n") != answer {
		t.Errorf("call %d: workflow keys %q, answer %q", i, res.Keys, answer)
	}
	row := s.storedLine(t, i, id, original != nil)
	for _, w := range want.Warnings {
		if w == "none" {
			if len(row.Warnings) != 0 {
				t.Errorf("call %d: warnings %q, want none", i, row.Warnings)
			}
			continue
		}
		found := false
		for _, got := range row.Warnings {
			found = found || strings.Contains(got, w)
		}
		if !found {
			t.Errorf("call %d: no warning holds %q; warnings: %q", i, w, row.Warnings)
		}
	}
	for k, v := range want.Fields {
		if row.Fields[k] != v {
			t.Errorf("call %d: field %s = %q, want %q", i, k, row.Fields[k], v)
		}
	}
	if want.EmailStatus != "" && row.EmailStatus != want.EmailStatus {
		t.Errorf("call %d: email status %q, want %q", i, row.EmailStatus, want.EmailStatus)
	}
	if want.ProductName != "" && row.ProductName != want.ProductName {
		t.Errorf("call %d: product name %q, want %q", i, row.ProductName, want.ProductName)
	}
	if len(want.Customer) > 0 {
		if row.CustomerID == nil {
			t.Fatalf("call %d: no customer stored", i)
		}
		c, err := s.app.Store.FindCustomerByID(context.Background(), *row.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{"name": c.Name, "company": c.Company, "city": c.City, "street": c.Street}
		for k, v := range want.Customer {
			if got[k] != v {
				t.Errorf("call %d: customer %s = %q, want %q", i, k, got[k], v)
			}
		}
	}
	if want.EmailTo != "" {
		found := false
		for _, m := range s.resend.Delivered() {
			found = found || (len(m.To) == 1 && m.To[0] == want.EmailTo && strings.Contains(m.Text, keys[0]))
		}
		if !found {
			t.Errorf("call %d: no email with the key to %s", i, want.EmailTo)
		}
	}
}

// stored is what the corpus checks of a stored order line or renewal.
type stored struct {
	EmailStatus string
	Warnings    []string
	Fields      map[string]string
	ProductName string
	CustomerID  *int64
}

func (s *stack) storedLine(t *testing.T, i int, id order.LineID, renewal bool) stored {
	t.Helper()
	ctx := context.Background()
	if renewal {
		r, err := s.app.Store.FindRenewalLine(ctx, id)
		if err != nil {
			t.Fatalf("call %d: stored renewal: %v", i, err)
		}
		return stored{EmailStatus: r.EmailStatus, Warnings: r.Warnings, Fields: r.Fields, CustomerID: r.CustomerID}
	}
	o, err := s.app.Store.FindOrderLine(ctx, id)
	if err != nil {
		t.Fatalf("call %d: stored line: %v", i, err)
	}
	return stored{EmailStatus: o.EmailStatus, Warnings: o.Warnings, Fields: o.Fields, ProductName: o.ProductName, CustomerID: o.CustomerID}
}

// checkSerials: a renewal's keys re-sign the original's, serial for serial,
// with the original issue day.
func checkSerials(t *testing.T, i int, ring license.Keyring, renewed, original string) {
	t.Helper()
	r, o := strings.Split(renewed, "\n"), strings.Split(original, "\n")
	if len(r) != len(o) {
		t.Fatalf("call %d: %d renewed keys for %d original ones", i, len(r), len(o))
	}
	for k := range r {
		rc, err1 := ring.Verify(r[k])
		oc, err2 := ring.Verify(o[k])
		if err1 != nil || err2 != nil || rc.Serial != oc.Serial || !rc.Issued.Equal(oc.Issued) {
			t.Errorf("call %d: renewed key %d: serial %x issued %v, original serial %x issued %v (%v %v)",
				i, k, rc.Serial, rc.Issued, oc.Serial, oc.Issued, err1, err2)
		}
		if r[k] == o[k] {
			t.Errorf("call %d: renewed key %d is the original key", i, k)
		}
	}
}

// checkClaims compares a key's claims with the corpus's expectations; the
// claims it does not name are not checked.
func checkClaims(t *testing.T, i int, c license.Claims, want map[string]string) {
	t.Helper()
	date := func(d time.Time) string {
		if d.IsZero() {
			return ""
		}
		return d.Format(time.DateOnly)
	}
	got := map[string]string{
		"product":     strconv.Itoa(int(c.Product)),
		"version":     strconv.Itoa(int(c.Major)) + "." + strconv.Itoa(int(c.Minor)),
		"features":    c.Features.String(),
		"seats":       strconv.Itoa(int(c.Seats)),
		"model":       license.ModelName(c.Model, c.Binding),
		"issued":      date(c.Issued),
		"expires":     date(c.Expires),
		"maintenance": date(c.Maintenance),
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("corpus: unknown claim %q", k)
		}
		if g != v {
			t.Errorf("call %d: claim %s = %q, want %q", i, k, g, v)
		}
	}
}

// lineOf reads the order line a call names, as the API does: the provider
// from is_vendor, PURCHASE_ID and RUNNING_NO (default 1) from body or query.
func lineOf(t *testing.T, target, body string) (provider, purchase, running string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, raw := range []string{u.RawQuery, body} {
		for pair := range strings.SplitSeq(raw, "&") {
			name, value, _ := strings.Cut(pair, "=")
			name, _ = url.QueryUnescape(name)
			value, _ = url.QueryUnescape(value)
			fields[strings.ToUpper(name)] = value
		}
	}
	provider = strings.ToLower(fields["IS_VENDOR"])
	running = fields["RUNNING_NO"]
	if running == "" {
		running = "1"
	}
	return provider, strings.TrimSpace(fields["PURCHASE_ID"]), running
}
