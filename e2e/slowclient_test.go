package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysmith/keysmith/store"
)

// TestSlowClients: clients that trickle their headers or their body are cut
// off by the API server's timeouts, start and store nothing, and do not hold
// up the storefront's calls meanwhile.
func TestSlowClients(t *testing.T) {
	s := newStack(t)
	srv := s.app.Server()
	// The production limits...
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second ||
		srv.IdleTimeout != 2*time.Minute || srv.MaxHeaderBytes != 64<<10 || srv.WriteTimeout <= s.app.Env.KeyTimeout {
		t.Fatalf("server limits: header %s, read %s, write %s, idle %s, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	// ...scaled down, so that the test takes seconds.
	srv.ReadHeaderTimeout, srv.ReadTimeout = 500*time.Millisecond, time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck // closed below
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()
	target := "/qlmservice.asmx/GetActivationKey?" + qlmQuery

	type outcome struct {
		name   string
		answer string // the status line, or "" when the server closed the connection
		after  time.Duration
	}
	var (
		wg       sync.WaitGroup
		outcomes = make([]outcome, 2)
	)
	slow := func(i int, name, head, trickle string) {
		defer wg.Done()
		start := time.Now()
		answer := trickleRequest(t, addr, head, trickle, 200*time.Millisecond)
		outcomes[i] = outcome{name, answer, time.Since(start)}
	}
	headersPurchase, bodyPurchase := s.purchase(1), s.purchase(2)
	body := orderForm(bodyPurchase, 1)
	wg.Add(2)
	go slow(0, "headers", "POST "+target+" HTTP/1.1\r\nHost: keysmith\r\n",
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n"+orderForm(headersPurchase, 1))
	go slow(1, "body", fmt.Sprintf("POST %s HTTP/1.1\r\nHost: keysmith\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n",
		target, len(body)), body)

	// Meanwhile the storefront's call is keyed at once.
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	resp, err := http.Post("http://"+addr+target, "application/x-www-form-urlencoded", strings.NewReader(orderForm(s.purchase(3), 1)))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || time.Since(start) > 5*time.Second {
		t.Errorf("a prompt call beside slow ones: %d %q after %s", resp.StatusCode, key, time.Since(start))
	}
	wg.Wait()

	for _, o := range outcomes {
		t.Logf("trickled %s: answer %q after %s", o.name, o.answer, o.after.Round(time.Millisecond))
		if strings.Contains(o.answer, " 200 ") {
			t.Errorf("trickled %s was answered %q", o.name, o.answer)
		}
		if o.after > 4*time.Second {
			t.Errorf("trickled %s held its connection for %s", o.name, o.after)
		}
	}
	// A body cut off by the timeout is refused with a reason.
	if !strings.HasPrefix(outcomes[1].answer, "HTTP/1.1 400") {
		t.Errorf("trickled body: %q, want 400", outcomes[1].answer)
	}
	// Nothing was started or stored for either.
	for _, p := range []string{headersPurchase, bodyPurchase} {
		id := "IssueLicense:shareit:" + p + "-1"
		if _, err := s.app.Temporal.DescribeWorkflow(context.Background(), id, ""); err == nil {
			t.Errorf("workflow %s was started for a cut-off request", id)
		}
		if _, err := s.app.Store.FindOrderLine(context.Background(), store.Line{Provider: "shareit", PurchaseID: p, RunningNo: "1"}); err != store.ErrNotFound {
			t.Errorf("order %s: %v, want not found", p, err)
		}
	}
}

// trickleRequest writes head at once, then trickle a byte at a time every
// gap, and returns the status line the server answers, "" if it closes
// the connection without one.
func trickleRequest(t *testing.T, addr, head, trickle string, gap time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // a failed read ends it
		line, _ := bufio.NewReader(conn).ReadString('\n')
		answered <- strings.TrimSpace(line)
	}()
	for i := range len(trickle) {
		select {
		case line := <-answered:
			return line
		case <-time.After(gap):
		}
		if _, err := io.WriteString(conn, trickle[i:i+1]); err != nil {
			break // the server closed the connection
		}
	}
	return <-answered
}
