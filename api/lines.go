package api

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/orderline"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"

	"github.com/keysmith/keysmith/storefront/fastspring"
	"github.com/keysmith/keysmith/storefront/paddle"
	"github.com/keysmith/keysmith/storefront/shareit"
	"github.com/keysmith/keysmith/storefront/stripe"
	"github.com/keysmith/keysmith/storefront/twocheckout"
)

// kinds are the storefronts keysmith serves, by config.Provider.Kind.
var kinds = map[string]storefront.Kind{
	config.KindShareIt:     shareit.Kind{},
	config.KindFastSpring:  fastspring.Kind{},
	config.KindStripe:      stripe.Kind{},
	config.KindPaddle:      paddle.Kind{},
	config.KindTwoCheckout: twocheckout.Kind{},
}

// lines is what a storefront's call asks for, checked.
type lines struct {
	lines []line
	// notify: key in the background and answer at once (see
	// storefront.Reading); events are the notification's events, failed
	// those not handled (left out of the answer, so that the storefront
	// sends them again).
	notify      bool
	events      []string
	failed      map[string]bool
	revocations []storefront.Revocation
	answer      func(handled []string) string // storefront.Reading's Answer
}

// line is one order line of a call, and the notification event it came
// from.
type line struct {
	order.Line
	event string
}

// readLines turns a storefront's call into checked order lines: it finds
// the provider (is_vendor), has the provider's kind read the body,
// authenticates the caller (the provider's addresses and credentials, then
// what the kind signs), and builds each line. A refusal says why, in a line
// fit for the storefront. The provider is returned once the caller is
// authenticated.
func readLines(d Deps, auth *authenticator, r *http.Request, method string) (lines, *config.Provider, *refusal) {
	p, refused := provider(d, r)
	if refused != nil {
		return lines{}, nil, refused
	}
	call, err := kinds[p.Kind].Read(r, p, method)
	if err != nil {
		return lines{}, nil, refuse(d, err)
	}
	if refused := auth.authenticate(r.Context(), r, p, call.QLM); refused != nil {
		return lines{}, nil, refused
	}
	refused = auth.verify(r, func() *refusal {
		if err := kinds[p.Kind].Verify(call, p); err != nil {
			return refuse(d, err)
		}
		return nil
	})
	if refused != nil {
		return lines{}, nil, refused
	}
	reading, err := kinds[p.Kind].Decode(r.Context(), call, p)
	if err != nil {
		return lines{}, p, refuse(d, err)
	}
	out := lines{notify: reading.Notify, events: reading.Events, failed: map[string]bool{}, revocations: reading.Revocations,
		answer: reading.Answer}
	for _, s := range reading.Skipped {
		d.Log.Warn("Notification: nothing to key", "provider", p.Name, "skipped", s)
	}
	b := orderline.Builder{Config: d.Config, Templates: d.Templates, Store: d.Store, ReportWithin: d.reportWithin()}
	received := time.Now().UTC()
	for _, req := range reading.Requests {
		l, err := b.Line(r.Context(), p, req, received)
		if err == nil {
			out.lines = append(out.lines, line{Line: l, event: req.Event})
			continue
		}
		if !reading.Notify {
			return lines{}, p, refuse(d, err)
		}
		// One line of a notification that cannot be keyed does not refuse
		// the others: its event is left unanswered, and logged.
		out.failed[req.Event] = true
		d.Log.Error("Notification: order line not keyed", "provider", p.Name, "event", req.Event,
			"order", req.Purchase.PurchaseID, "item", req.Purchase.RunningNo, "reason", refuse(d, err).reason)
	}
	return out, p, nil
}

// provider finds the call's provider by is_vendor in the URL or, as some
// set-ups post QLM's arguments, in a form body; none names the default
// one. The body is put back for the provider's kind to read.
func provider(d Deps, r *http.Request) (*config.Provider, *refusal) {
	args, err := qlm.NewCall(r.URL.RawQuery, "")
	if err != nil {
		return nil, refuse(d, err)
	}
	vendor := args.Arg("is_vendor")
	if vendor == "" && r.Method == http.MethodPost && r.Body != nil {
		raw, err := io.ReadAll(io.LimitReader(r.Body, qlm.MaxBodyBytes+1))
		rest := r.Body
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(raw), rest), rest}
		if err == nil && len(raw) <= qlm.MaxBodyBytes {
			if form, err := qlm.NewCall("", string(raw)); err == nil {
				vendor = form.Arg("is_vendor")
			}
		}
	}
	p, ok := d.Config.Provider(vendor)
	if !ok {
		return nil, &refusal{status: http.StatusUnauthorized, reason: "is_vendor: unknown provider"}
	}
	return p, nil
}

// refuse answers a line that cannot be keyed: with its reason when the
// call is at fault, else (the database failing a renewal's look-up) with a
// 503 the storefront retries.
func refuse(d Deps, err error) *refusal {
	// Not errors.As: a wrapped refusal is the store's (a stored line that
	// does not read back), not the call's.
	if bad, ok := err.(*qlm.BadRequestError); ok {
		return &refusal{status: bad.Status, reason: bad.Reason()}
	}
	d.Log.Error("Decode order line", "error", err)
	return &refusal{status: http.StatusServiceUnavailable, reason: "key service temporarily unavailable; try again"}
}
