package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/keysmith/keysmith/codec"
	"github.com/keysmith/keysmith/internal/devserver"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/workflows"
)

// Support staff in a real browser, in the real Temporal UI: they find the
// order whose email bounced by EmailStatus, see the buyer's name (decoded
// by keysmith's codec server), send retry-email with a corrected address
// through the UI's own update form, and the email goes out and the order
// completes. Without the codec server the same page shows no buyer's name.
// With KEYSMITH_SCREENSHOT_DIR set, the screenshots of docs/support.md are
// written there.
func TestSupportInTheTemporalUI(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (make test installs Debian's chromium package)")
	}
	ctx := context.Background()
	cdc, err := codec.New(testenv.CodecKeys)
	if err != nil {
		t.Fatal(err)
	}
	uiPort := freePort(t)
	ui := fmt.Sprintf("http://localhost:%d", uiPort)
	var codecOn atomic.Bool
	codecOn.Store(true)
	handler := cdc.Handler(codec.ServerOptions{Origins: []string{ui}, TrustOrigins: true})
	codecSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !codecOn.Load() {
			http.Error(w, "codec server down", http.StatusServiceUnavailable)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	defer codecSrv.Close()
	srv, err := devserver.Start(ctx, devserver.Options{UIPort: fmt.Sprint(uiPort), UICodecEndpoint: codecSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop() //nolint:errcheck // end of test

	s := newStackOn(t, srv.FrontendHostPort(), nil)
	s.resend.FailNext(1, http.StatusUnprocessableEntity, "validation_error")
	status, key := s.post(getKey, qlmQuery, orderForm(s.purchase(1), 1))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, key)
	}
	id := workflows.IssueLicenseID("shareit", s.purchase(1), "1")
	s.waitParked(id)

	b := newBrowser(t, chromium)
	// 1. The parked orders, as support finds them.
	b.open(ui + `/namespaces/default/workflows?query=` + urlQuery(`EmailStatus="failed"`))
	b.waitText(id)
	b.shot("01-parked-orders.png")
	b.click(`[...document.querySelectorAll('a')].find(a => visible(a) && a.innerText.trim() === ` + js(id) + `)`)

	// 2. The order, with the buyer's data decoded through the codec server.
	b.waitText("Müller")
	b.shot("02-parked-order.png")

	// 3. retry-email with a corrected address, through the UI's form.
	b.clickText("More Actions")
	b.clickText("Send an Update")
	b.click(`[...document.querySelectorAll('label[for=update-select]')].map(l => l.nextElementSibling).find(visible)`)
	b.click(`[...document.querySelectorAll('[role=option], li')].find(o => visible(o) && o.innerText.includes("retry-email"))`)
	b.click(`[...document.querySelectorAll('.cm-content[contenteditable=true]')].find(visible)`)
	b.insertText(`{"To": "juergen.fixed@example.com", "Actor": "Sam Support", "Reason": "typo in the address"}`)
	b.shot("03-retry-email.png")
	// The first click leaves the editor, which reformats the JSON and moves
	// the buttons; Submit is then clicked where it is.
	b.clickText("Submit")
	time.Sleep(time.Second)
	if b.visibleText("Submit") {
		b.clickText("Submit")
	}

	res := s.waitWorkflow(id)
	if res.EmailStatus != workflows.EmailSent {
		t.Fatalf("result %+v", res)
	}
	delivered := false
	for _, m := range s.resend.Delivered() {
		delivered = delivered || (m.To[0] == "juergen.fixed@example.com" && strings.Contains(m.Text, key))
	}
	if !delivered {
		t.Error("no email with the key to the corrected address")
	}
	b.open(ui + "/namespaces/default/workflows/" + urlPath(id))
	b.waitText("Completed")
	b.waitText("RecordSupportAction") // the support action is a step of the order's history
	b.shot("04-completed.png")
	actions, err := s.app.Store.SupportActions(ctx, store.Line{Provider: "shareit", PurchaseID: s.purchase(1), RunningNo: "1"})
	if err != nil || len(actions) != 1 || actions[0].Actor != "Sam Support" || actions[0].Reason != "typo in the address" {
		t.Errorf("support actions %+v, %v", actions, err)
	}

	// 4. Without the codec server: no buyer's data on the page.
	codecOn.Store(false)
	b.open(ui + "/namespaces/default/workflows/" + urlPath(id))
	b.waitText("Completed")
	time.Sleep(2 * time.Second) // let the page try the codec server and give up
	if text := b.text(); strings.Contains(text, "Müller") || strings.Contains(text, "juergen") {
		t.Error("the page shows the buyer's data without the codec server")
	}
	b.shot("05-without-codec.png")
}

// browser is a headless Debian chromium driven over the DevTools protocol.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	return &browser{t: t, ctx: ctx}
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) open(url string) { b.t.Helper(); b.do(chromedp.Navigate(url)) }

func (b *browser) text() string {
	b.t.Helper()
	text, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		b.t.Fatal(err)
	}
	return text
}

func (b *browser) waitText(want string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(b.text(), want) {
		if time.Now().After(deadline) {
			b.shot("failed-" + strings.Map(safeRune, want) + ".png")
			b.t.Fatalf("the page never showed %q:\n%s", want, b.text())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// helpers is the page-side code the selectors use: the UI keeps hidden
// copies of dialogs and menus, so only elements with a box count.
const helpers = `const visible = el => { if (!el) return false; const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };`

// click clicks, with a real mouse, the centre of the element expr finds.
func (b *browser) click(expr string) {
	b.t.Helper()
	var pt []float64
	deadline := time.Now().Add(20 * time.Second)
	for len(pt) != 2 {
		var err error
		pt, err = chromedp.Run(b.ctx, chromedp.Evaluate[[]float64](`(() => { `+helpers+` const el = (`+expr+`);
			if (!visible(el)) return []; el.scrollIntoView({block: "center"}); const r = el.getBoundingClientRect();
			return [r.x + r.width / 2, r.y + r.height / 2]; })()`))
		if err != nil {
			b.t.Fatal(err)
		}
		if len(pt) != 2 && time.Now().After(deadline) {
			b.shot("failed-click.png")
			b.t.Fatalf("nothing visible to click: %s", expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.do(chromedp.MouseClickXY(pt[0], pt[1]), chromedp.Sleep(300*time.Millisecond))
}

// visibleText reports whether a visible button or menu item is labelled text.
func (b *browser) visibleText(text string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { `+helpers+` return [...document.querySelectorAll('button, [role=menuitem], a')].some(e => visible(e) && e.innerText.trim() === `+js(text)+`); })()`))
	if err != nil {
		b.t.Fatal(err)
	}
	return ok
}

// clickText clicks the visible button or menu item labelled text.
func (b *browser) clickText(text string) {
	b.t.Helper()
	b.click(`[...document.querySelectorAll('button, [role=menuitem], a')].find(e => visible(e) && e.innerText.trim() === ` + js(text) + `)`)
}

// insertText types text into the focused editor as one input (unlike
// key-by-key typing, it brings no auto-closed brackets).
func (b *browser) insertText(text string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, input.InsertText, input.InsertTextParams{Text: text}); err != nil {
		b.t.Fatal(err)
	}
	b.do(chromedp.Sleep(300 * time.Millisecond))
}

// shot saves a screenshot into $KEYSMITH_SCREENSHOT_DIR, if set.
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("KEYSMITH_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "=", "%3D").Replace(s)
}

func urlPath(s string) string { return strings.ReplaceAll(s, "/", "%2F") }

func safeRune(r rune) rune {
	if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
		return r
	}
	return '-'
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
