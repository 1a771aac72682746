package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keysmith/keysmith/api"
	"github.com/keysmith/keysmith/internal/app"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/license/client"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// qlmExport writes a QLM vendor's data as it comes out of QLM (qryLicenseInfo,
// qryActivationLog and qryCustomerInfo as CSV, QLM's field names as the
// header, keys with dashes as the console shows them): four good licenses
// and five bad rows.
func qlmExport(t *testing.T, prefix string) (licenses, activations, customers string, keys [4]string) {
	t.Helper()
	for i := range keys {
		keys[i] = fmt.Sprintf("A%s-%d0F0-0GHJ-4B78-32D1-C1SP", strings.ToUpper(prefix[:4]), i+1)
	}
	dir := t.TempDir()
	rows := []string{
		"ActivationKey,ComputerKey,ProductID,MajorVersion,MinorVersion,ProductName,Features,NumLicenses,LicenseModel,ExpiryDate,MaintenanceRenewalDate,OrderID,OrderDate,Email,FullName,Company,ComputerID,ComputerName,ActivationDate,Revoked,SubscriptionID,UserData1",
		// 2: permanent, two seats, one computer in the activation log.
		keys[0] + ",,1,1,0,Demo App,0:3;1:1,2,permanent,,2027-06-30," + prefix + "-1001,2024-03-14 09:26:53,juergen@example.com,Jürgen Müller,,,,,false,,vip",
		// 3: a subscription on one computer, dates as the en-US console writes them.
		keys[1] + ",CK-IGNORED,1,1,0,Demo App,0:1,1,subscription,1/15/2027,," + prefix + "-1002,1/15/2025 10:00:00 AM,ada@example.com,Ada Buyer,Buyer GmbH,pc-sub,Ada's laptop,2/1/2025,0,sub_77,",
		// 4: revoked, no order id.
		keys[2] + ",,7,3,1,,,1,,,,,2023-05-01,,,,,,,true,,",
		// 5: a second line of order 1001.
		keys[3] + ",,1,2,0,,,1,trial_floating,2027-01-01,," + prefix + "-1001,2024-03-14,juergen@example.com,,,,,,,,",
		// 6 to 10: bad rows.
		"B0000-UNKNOWN-PRODUCT,,42,1,0,,,1,,,,,2024-01-01,,,,,,,,",
		"B0000-BAD-FEATURES,,1,1,0,,9:1,1,,,,,2024-01-01,,,,,,,,",
		keys[0] + ",,1,1,0,,,1,,,,,2024-01-01,,,,,,,,",
		"B0000-BAD-DATE,,1,1,0,,,1,subscription,31.12.2027,,,2024-01-01,,,,,,,,",
		"B0000-TOO-MANY-PCS,,1,1,0,,,1,,,,,2024-01-01,,,pc-a,A,,,,",
	}
	licenses = filepath.Join(dir, "licenses.csv")
	activations = filepath.Join(dir, "activations.csv")
	customers = filepath.Join(dir, "customers.csv")
	write := func(path string, lines ...string) {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(licenses, rows...)
	write(activations, "ActivationKey,ComputerID,ComputerName,ActivationDate,ReleaseDate",
		strings.ReplaceAll(keys[0], "-", "")+",pc-old-1,Old Desk,2024-03-15,",
		keys[0]+",pc-gone,Old Laptop,2024-03-16,2024-09-01",
		"B0000-TOO-MANY-PCS,pc-b,B,2024-01-02,")
	write(customers, "Email,FullName,Company,Phone,Address1,City,State,PostalCode,Country",
		"juergen@example.com,Jürgen Müller,Müller GmbH,+49 30 1234,Hauptstraße 1,Köln,,50667,Germany")
	return licenses, activations, customers, keys
}

// Moving in from QLM: a QLM-format export with good and bad rows is
// checked (dry run), imported (a workflow per license, on the record),
// imported again (nothing changes); the QLM keys are then checked by
// keysmith as legacy keys, with the seats their QLM computers hold; a
// subscription sold under QLM renews through MyCommerce's rebilling call;
// and the new application exchanges its legacy key for the keysmith key.
func TestImportFromQLM(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	licenses, activations, customers, keys := qlmExport(t, s.prefix)
	opts := app.ImportOptions{Licenses: licenses, Activations: activations, Customers: customers, Actor: "Ada Admin", Concurrency: 4}
	wantBad := []string{
		"row 6: ProductID: product 42 version 1.0 is not in keysmith.yaml",
		"row 7: Features:",
		"row 8: ActivationKey: " + keys[0] + " is also on row 2",
		"row 9: ExpiryDate: \"31.12.2027\"",
		"row 10: 2 computers hold seats of a key with 1 (NumLicenses)",
	}
	checkReport := func(what string, rep app.ImportReport, imported, skipped int) {
		t.Helper()
		if rep.Rows != 9 || rep.Imported != imported || rep.Skipped != skipped || len(rep.Bad) != len(wantBad) {
			t.Errorf("%s: %+v, want 9 rows, %d imported, %d skipped, %d bad", what, rep, imported, skipped, len(wantBad))
		}
		for i, want := range wantBad {
			if i < len(rep.Bad) && !strings.HasPrefix(rep.Bad[i].Error(), want) {
				t.Errorf("%s: bad row %d: %q, want %q...", what, i, rep.Bad[i], want)
			}
		}
	}
	lines := func() int {
		n, err := s.countOrderLines(ctx, s.prefix)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.countOrderLines(ctx, "QLM-A"+strings.ToUpper(s.prefix[:4]))
		if err != nil {
			t.Fatal(err)
		}
		return n + m
	}

	dry := opts
	dry.DryRun = true
	rep, err := s.app.ImportQLM(ctx, dry, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport("dry run", rep, 4, 0)
	if n := lines(); n != 0 {
		t.Fatalf("a dry run stored %d lines", n)
	}
	rep, err = s.app.ImportQLM(ctx, opts, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport("import", rep, 4, 0)
	if n := lines(); n != 4 {
		t.Fatalf("%d lines stored, want 4", n)
	}
	rep, err = s.app.ImportQLM(ctx, opts, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	checkReport("the same file again", rep, 0, 4)
	if n := lines(); n != 4 {
		t.Errorf("%d lines after the second import, want 4", n)
	}
	if n := s.countWorkflows(`WorkflowType = "ImportLicense" AND TaskQueue = "`+s.app.Env.TaskQueue+`"`, 4); n != 4 {
		t.Errorf("%d import workflows, want 4", n)
	}
	if len(s.resend.Delivered()) != 0 {
		t.Error("the import mailed buyers")
	}

	// The line's story says where it came from; support find shows it.
	line1 := order.Name("qlm-import", s.prefix+"-1001", "1")
	s.recordHistory(workflows.ImportLicenseID(line1), "import_license.json")
	var out bytes.Buffer
	if err := s.app.Audit(ctx, &out, line1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ImportLicense " + workflows.ImportLicenseID(line1), "licenses.csv", `"Row":2`, "Ada Admin", "Jürgen Müller", "local step SaveImport done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := s.app.Find(ctx, &out, "", "", keys[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"order line " + line1, "legacy    " + strings.ReplaceAll(keys[0], "-", ""), "imported  from QLM, file licenses.csv", "row 2, by Ada Admin",
		"buyer     Jürgen Müller <juergen@example.com> Müller GmbH", "email     skipped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("find lacks %q:\n%s", want, out.String())
		}
	}
	second, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "qlm-import", PurchaseID: s.prefix + "-1001", RunningNo: "2"})
	if err != nil || second.LicenseModel != "trial_floating" || second.Major != 2 {
		t.Errorf("order 1001 line 2: %+v %v", second, err)
	}
	revoked, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "qlm-import", PurchaseID: "QLM-" + strings.ReplaceAll(keys[2], "-", ""), RunningNo: "1"})
	if err != nil || len(revoked.Keys) != 1 || revoked.Keys[0].RevokedAt == nil {
		t.Errorf("the revoked license: %+v %v", revoked, err)
	}

	// The QLM key is checked by keysmith; its imported computer holds seat 1.
	validate := func(key, computer string) api.Validation {
		t.Helper()
		b, _ := json.Marshal(api.ValidateRequest{Key: key, ComputerID: computer, Nonce: "nonce-0123456789abcdef"})
		status, body := s.postJSON("/v1/validate", string(b))
		if status != http.StatusOK {
			t.Fatalf("validate: %d %s", status, body)
		}
		var signed license.SignedAnswer
		if err := json.Unmarshal([]byte(body), &signed); err != nil {
			t.Fatal(err)
		}
		v, err := client.CheckValidation(s.ring, signed, "nonce-0123456789abcdef", computer)
		if err != nil {
			t.Fatalf("validation answer: %v", err)
		}
		return v
	}
	if v := validate(strings.ToLower(keys[0]), "pc-old-1"); v.Status != "valid" || v.Seat != 1 || v.SeatsUsed != 1 || v.Seats != 2 || v.Features != "0:3;1:1" {
		t.Errorf("the imported computer: %+v", v)
	}
	if status, body := s.activate(api.ActivateRequest{Key: keys[0], ComputerID: "pc-new", ComputerName: "New Desk"}); status != http.StatusOK {
		t.Errorf("activate the legacy key on a new computer: %d %s", status, body)
	}
	if status, body := s.activate(api.ActivateRequest{Key: keys[0], ComputerID: "pc-third"}); status != http.StatusConflict {
		t.Errorf("a third computer on two seats: %d %s", status, body)
	}
	if status, body := s.postJSON("/v1/release", fmt.Sprintf(`{"key": %q, "computer_id": "pc-new"}`, keys[0])); status != http.StatusOK {
		t.Errorf("release with the legacy key: %d %s", status, body)
	}
	if status, body := s.activate(api.ActivateRequest{Key: keys[2], ComputerID: "pc-x"}); status != http.StatusForbidden || !strings.Contains(string(body), "revoked") {
		t.Errorf("activate a revoked legacy key: %d %s", status, body)
	}
	if status, _ := s.activate(api.ActivateRequest{Key: "A0000-NEVER-SOLD-BY-QLM", ComputerID: "pc-x"}); status != http.StatusNotFound {
		t.Errorf("an unknown legacy key: %d", status)
	}

	// The admin look-up finds the line by its legacy key, with the computer.
	req, _ := http.NewRequest(http.MethodGet, s.api.URL+"/v1/admin/lookup?key="+url.QueryEscape(keys[0]), nil)
	req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var found struct{ Lines []api.LookupLine }
	err = json.NewDecoder(resp.Body).Decode(&found)
	resp.Body.Close()
	if err != nil || len(found.Lines) != 1 || found.Lines[0].Line != line1 || found.Lines[0].Keys[0].LegacyKey != keys[0] ||
		len(found.Lines[0].Keys[0].Computers) != 1 || found.Lines[0].Keys[0].Computers[0] != "pc-old-1" {
		t.Errorf("admin look-up by the legacy key: %+v %v", found, err)
	}

	// The new application exchanges its legacy key: the keysmith key of the
	// same line, the same every time, sharing the seats.
	exchange := func(legacy, computer string) (int, api.ExchangeResponse, string) {
		b, _ := json.Marshal(api.ExchangeRequest{LegacyKey: legacy, ComputerID: computer, ComputerName: "Old Desk"})
		status, body := s.postJSON("/v1/exchange", string(b))
		var resp api.ExchangeResponse
		_ = json.Unmarshal([]byte(body), &resp)
		return status, resp, body
	}
	status, ex, body := exchange(keys[0], "pc-old-1")
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %s", status, body)
	}
	claims, err := s.ring.Verify(ex.Key)
	if err != nil || claims.Seats != 2 || claims.Product != 1 || ex.Key != storedKey(t, s, line1) {
		t.Errorf("exchanged key %q: %+v %v", ex.Key, claims, err)
	}
	if _, again, _ := exchange(strings.ToLower(keys[0]), "pc-old-1"); again.Key != ex.Key {
		t.Errorf("a repeated exchange answered %q, want %q", again.Key, ex.Key)
	}
	if status, body := s.activate(api.ActivateRequest{Key: ex.Key, ComputerID: "pc-old-1"}); status != http.StatusOK || !strings.Contains(string(body), `"reused":true`) {
		t.Errorf("the exchanged key on the imported computer: %d %s (its seat carries over)", status, body)
	}
	if status, _, _ := exchange("A0000-NEVER-SOLD-BY-QLM", "pc-old-1"); status != http.StatusNotFound {
		t.Errorf("exchange of an unknown key: %d", status)
	}
	if status, _, _ := exchange(ex.Key, "pc-old-1"); status != http.StatusNotFound {
		t.Errorf("exchange of a keysmith key: %d", status)
	}
	if n := s.countWorkflows(`WorkflowType = "ExchangeLegacyKey" AND OrderLine = "`+line1+`"`, 1); n != 1 {
		t.Errorf("%d exchange records, want one for the computer", n)
	}
	exchangeID := workflows.ExchangeLegacyKeyID(line1, "pc-old-1")
	if err := s.app.Temporal.GetWorkflow(ctx, exchangeID, "").Get(ctx, nil); err != nil {
		t.Errorf("exchange record: %v", err)
	}
	s.recordHistory(exchangeID, "exchange_legacy_key.json")
	eventually(t, 10*time.Second, "the exchange on the record", func() bool {
		actions, err := s.app.Store.SupportActions(ctx, store.Line{Provider: "qlm-import", PurchaseID: s.prefix + "-1001", RunningNo: "1"})
		return err == nil && len(actions) == 1 && actions[0].Action == "exchange-legacy-key"
	})

	// MyCommerce rebills the subscription sold under QLM, with its QLM key:
	// the imported line is renewed, not keyed anew.
	rebill := orderForm(s.purchase(50), 1) + "&ORIGINAL_KEY=" + url.QueryEscape(keys[1])
	status, renewed := s.post(withExpiry, subscriptionQuery(1, 30), rebill)
	if status != http.StatusOK {
		t.Fatalf("rebill: %d %s", status, renewed)
	}
	imported2, err := s.app.Store.FindOrderLine(ctx, store.Line{Provider: "qlm-import", PurchaseID: s.prefix + "-1002", RunningNo: "1"})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.ring.Verify(renewed)
	if err != nil || fmt.Sprintf("%016x", rc.Serial) != imported2.Keys[0].Serial || !rc.Expires.Equal(time.Date(2027, 2, 14, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("renewed key %+v %v; want the imported serial %s, expiring 2027-02-14", rc, err, imported2.Keys[0].Serial)
	}
	line2 := order.Name("qlm-import", s.prefix+"-1002", "1")
	renewal := order.Line{LineID: order.LineID{Provider: "shareit", PurchaseID: s.purchase(50), RunningNo: "1"},
		Renews: &order.Original{LineID: order.LineID{Provider: "qlm-import", PurchaseID: s.prefix + "-1002", RunningNo: "1"}}}
	_, rid, _ := workflows.LineWorkflow(renewal)
	if r := s.waitWorkflow(rid); r.EmailStatus != workflows.EmailSent {
		t.Errorf("renewal: %+v", r)
	}
	if n := s.countWorkflows(`OrderLine = "`+line2+`"`, 2); n != 2 {
		t.Errorf("OrderLine = %s finds %d workflows, want the import and the renewal", line2, n)
	}
	if v := validate(keys[1], "pc-sub"); v.Status != "valid" || v.Expires != "2027-02-14" || v.Seat != 1 {
		t.Errorf("the renewed legacy key on its QLM computer: %+v", v)
	}
	if _, ex2, _ := exchange(keys[1], "pc-sub"); ex2.Key != renewed || ex2.Expires != "2027-02-14" {
		t.Errorf("exchange after the renewal: %+v, want the renewed key", ex2)
	}
	if n, err := s.countOrderLines(ctx, s.purchase(50)); err != nil || n != 0 {
		t.Errorf("the rebill stored %d new order lines (%v), want none", n, err)
	}
}

// storedKey is the stored keysmith key of a line (its first key).
func storedKey(t *testing.T, s *stack, line string) string {
	t.Helper()
	id, err := order.ParseName(line)
	if err != nil {
		t.Fatal(err)
	}
	row, err := s.app.Store.FindOrderLine(context.Background(), id)
	if err != nil || len(row.Keys) == 0 {
		t.Fatalf("line %s: %v", line, err)
	}
	return row.Keys[0].Key
}

// TestImportLarge imports KEYSMITH_IMPORT_ROWS generated licenses (make
// import-bench: 100,000) and reports rows per second and the process's peak
// memory (importer and worker; the Temporal server is its own process).
func TestImportLarge(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("KEYSMITH_IMPORT_ROWS"))
	if n == 0 {
		t.Skip("set KEYSMITH_IMPORT_ROWS (make import-bench)")
	}
	s := newStack(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "licenses.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "ActivationKey,ProductID,MajorVersion,MinorVersion,Features,NumLicenses,LicenseModel,ExpiryDate,OrderID,OrderDate,Email,FullName,ComputerID,ComputerName")
	for i := range n {
		fmt.Fprintf(w, "L%s-%08d-QLMK,1,1,0,0:1,3,subscription,2027-12-31,%s-%d,2025-06-01,buyer%d@example.com,Buyer %d,pc-%d,Desk %d\n",
			strings.ToUpper(s.prefix), i, s.prefix, i/2, i%5000, i, i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var progress bytes.Buffer
	rep, err := s.app.ImportQLM(ctx, app.ImportOptions{Licenses: path, Actor: "bench", Concurrency: 32}, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != n || len(rep.Bad) != 0 {
		t.Fatalf("imported %d of %d, %d bad: %v", rep.Imported, n, len(rep.Bad), rep.Bad[:min(len(rep.Bad), 5)])
	}
	again, err := s.app.ImportQLM(ctx, app.ImportOptions{Licenses: path, Actor: "bench"}, &bytes.Buffer{})
	if err != nil || again.Skipped != n {
		t.Fatalf("the same file again: %+v %v", again, err)
	}
	t.Logf("import of %d rows: %s, %.0f rows/s; again (all skipped): %s; peak RSS of importer and worker %s",
		n, rep.Took.Round(time.Second), float64(n)/rep.Took.Seconds(), again.Took.Round(time.Millisecond), peakRSS())
}

// peakRSS is this process's peak resident memory (VmHWM).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
