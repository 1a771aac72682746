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

	"go.yaml.in/yaml/v3"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
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
	Method string     `yaml:"method"`
	URL    string     `yaml:"url"`
	Body   string     `yaml:"body"`
	Want   corpusWant `yaml:"want"`
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
}

func loadCorpus(t *testing.T) []corpusCase {
	t.Helper()
	b, err := os.ReadFile("../storefront/shareit/testdata/corpus.yaml")
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

// TestCompatibilityCorpus sends every call of the corpus to the real stack
// and checks the answer, every key's claims and what was stored.
func TestCompatibilityCorpus(t *testing.T) {
	s := newStack(t)
	fill := strings.NewReplacer("{pwd}", url.QueryEscape(password), "{id}", s.prefix).Replace
	for _, tc := range loadCorpus(t) {
		t.Run(tc.Name, func(t *testing.T) {
			var answers, targets, bodies []string
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
				target, body := withKeys(c.URL), withKeys(c.Body)
				targets, bodies = append(targets, target), append(bodies, body)
				if method == http.MethodGet {
					body = ""
				}
				status, answer := s.do(method, target, body, nil)
				answers = append(answers, answer)
				if status != c.Want.Status {
					t.Fatalf("call %d: status %d %q, want %d", i, status, answer, c.Want.Status)
				}
				if status != http.StatusOK {
					if !strings.Contains(answer, c.Want.Reason) || strings.Contains(answer, password) {
						t.Errorf("call %d: reason %q, want it to hold %q", i, answer, c.Want.Reason)
					}
					continue
				}
				if c.Want.SameKeyAs != nil && answer != answers[*c.Want.SameKeyAs] {
					t.Errorf("call %d: key %q, want call %d's %q", i, answer, *c.Want.SameKeyAs, answers[*c.Want.SameKeyAs])
				}
				var original *order.Original
				if n := c.Want.Renews; n != nil {
					provider, purchase, running := lineOf(t, targets[*n], bodies[*n])
					original = &order.Original{LineID: order.LineID{Provider: provider, PurchaseID: purchase, RunningNo: running}}
					checkSerials(t, i, s.ring, answer, answers[*n])
				}
				c.Want.EmailTo = fill(c.Want.EmailTo)
				s.checkCorpusCall(t, i, target, body, answer, original, c.Want)
			}
		})
	}
	// Refused calls started nothing: every workflow belongs to a keyed line.
	keyed := 0
	for _, tc := range loadCorpus(t) {
		for _, c := range tc.Calls {
			if c.Want.Status == http.StatusOK && c.Want.SameKeyAs == nil {
				keyed++
			}
		}
	}
	if n := s.countWorkflows("TaskQueue = '"+s.app.Env.TaskQueue+"'", int64(keyed)); n != int64(keyed) {
		t.Errorf("%d workflows started, want one per keyed line: %d", n, keyed)
	}
}

// checkCorpusCall checks one keyed call: the keys' claims, then, once its
// workflow is done, the stored order line, customer and email.
func (s *stack) checkCorpusCall(t *testing.T, i int, target, body, answer string, original *order.Original, want corpusWant) {
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

	provider, purchase, running := lineOf(t, target, body)
	_, id, _ := workflows.LineWorkflow(order.Line{LineID: order.LineID{Provider: provider, PurchaseID: purchase, RunningNo: running}, Renews: original})
	res := s.waitWorkflow(id)
	if strings.Join(res.Keys, "\n") != answer {
		t.Errorf("call %d: workflow keys %q, answer %q", i, res.Keys, answer)
	}
	row := s.storedLine(t, i, provider, purchase, running, original != nil)
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

func (s *stack) storedLine(t *testing.T, i int, provider, purchase, running string, renewal bool) stored {
	t.Helper()
	ctx := context.Background()
	if renewal {
		r, err := s.app.Store.FindRenewalLine(ctx, store.Line{Provider: provider, PurchaseID: purchase, RunningNo: running})
		if err != nil {
			t.Fatalf("call %d: stored renewal: %v", i, err)
		}
		return stored{EmailStatus: r.EmailStatus, Warnings: r.Warnings, Fields: r.Fields, CustomerID: r.CustomerID}
	}
	o, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: provider, PurchaseID: purchase, RunningNo: running})
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
