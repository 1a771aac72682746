package e2e

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // 2Checkout's IPN HASH
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/order"
)

// TestTwoCheckoutCorpus posts every IPN of 2Checkout's corpus to the real
// stack, signed as 2Checkout signs them, and checks the read receipt
// answered, every key's claims, what was stored and what was revoked.
func TestTwoCheckoutCorpus(t *testing.T) {
	runTwoCheckoutCorpus(t, "../storefront/twocheckout/testdata/corpus.yaml")
}

type twoCheckoutCase struct {
	Name   string            `yaml:"name"`
	Source string            `yaml:"source"`
	Calls  []twoCheckoutCall `yaml:"calls"`
}

type twoCheckoutCall struct {
	URL       string     `yaml:"url"`
	IPN       [][]string `yaml:"ipn"`
	Signature string     `yaml:"signature"` // "", wrong or none
	Want      corpusWant `yaml:"want"`
}

// twoCheckoutValue is a value prefixed with its length, "0" when empty.
func twoCheckoutValue(v string) string {
	if v == "" {
		return "0"
	}
	return strconv.Itoa(len(v)) + v
}

func twoCheckoutHMAC(secret, s string) string {
	m := hmac.New(md5.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

var readReceipt = regexp.MustCompile(`^<EPAYMENT>(\d{14})\|([0-9a-f]{32})</EPAYMENT>$`)

func runTwoCheckoutCorpus(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []twoCheckoutCase
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("corpus.yaml: %v", err)
	}
	s := newStack(t)
	fill := strings.NewReplacer("{pwd}", url.QueryEscape(password), "{id}", s.prefix).Replace
	tally := newCorpusTally()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			run := &corpusRun{}
			for i, c := range tc.Calls {
				var fields []string
				var source strings.Builder
				get := map[string]string{}
				for _, kv := range c.IPN {
					if len(kv) != 2 {
						t.Fatalf("call %d: an ipn field is [name, value]", i)
					}
					name, value := kv[0], fill(kv[1])
					if _, seen := get[name]; !seen {
						get[name] = value
					}
					fields = append(fields, url.QueryEscape(name)+"="+url.QueryEscape(value))
					source.WriteString(twoCheckoutValue(value))
				}
				switch c.Signature {
				case "":
					fields = append(fields, "HASH="+twoCheckoutHMAC(testenv.TwoCheckoutSecretKey, source.String()))
				case "wrong":
					fields = append(fields, "HASH="+twoCheckoutHMAC("not-the-ipn-secret", source.String()))
				}
				var ids []order.LineID
				for _, n := range c.Want.Lines {
					id, err := order.ParseName(fill(n))
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				status, answer := s.do(http.MethodPost, fill(c.URL), strings.Join(fields, "&"), nil)
				if !run.answered(t, i, ids, status, answer, c.Want) {
					continue
				}
				m := readReceipt.FindStringSubmatch(answer)
				if m == nil {
					t.Fatalf("call %d: answer %q is not a read receipt", i, answer)
				}
				receipt := twoCheckoutValue(get["IPN_PID[]"]) + twoCheckoutValue(get["IPN_PNAME[]"]) +
					twoCheckoutValue(get["IPN_DATE"]) + twoCheckoutValue(m[1])
				if want := twoCheckoutHMAC(testenv.TwoCheckoutSecretKey, receipt); m[2] != want {
					t.Errorf("call %d: read receipt's hash %s, want %s", i, m[2], want)
				}
				event := get["REFNO"] + "-" + strings.ToUpper(get["ORDERSTATUS"])
				s.checkLines(t, run, tally, i, answer, true, event, c.Want.filled(fill))
			}
		})
	}
	// Refused and skipped IPNs started nothing.
	s.checkStarted(t, tally)
}
