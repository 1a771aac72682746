package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Stripe's event types that undo a sale.
const (
	chargeRefunded      = "charge.refunded"
	disputeCreated      = "charge.dispute.created"
	subscriptionDeleted = "customer.subscription.deleted"
)

// maxListed bounds what a revocation reads of a list (the sessions of a
// payment intent, its invoice payments, a charge's refunds): Stripe
// links one session, and one invoice, to a payment intent.
const maxListed = 10

// refund reads a refunded charge (charge.refunded, sent for every refund,
// partial ones included). A charge refunded in full revokes what it paid
// for (see revokeCharge). A partial refund keeps the keys: Stripe refunds
// an amount, not a line or a number of licenses, so what part of the
// order it undoes cannot be told; the refund that completes the charge's
// refund revokes.
func (d *decoder) refund(r *storefront.Reading) error {
	raw := d.event.Data.Raw
	ch, err := readCharge(raw)
	if err != nil {
		return err
	}
	if !ch.Refunded && (ch.Amount <= 0 || ch.AmountRefunded < ch.Amount) {
		d.skip(r, "partial refund of %d of %d %s (charge %s): keys kept", ch.AmountRefunded, ch.Amount, qlm.Label(string(ch.Currency)), ch.ID)
		return nil
	}
	refunds, err := d.refunds(ch)
	if err != nil {
		return err
	}
	reason := "Stripe charge " + ch.ID + " refunded in full"
	if refunds != "" {
		reason += " (" + refunds + ")"
	}
	return d.revokeCharge(r, storefront.Refund, ch, raw, "", reason)
}

// readCharge reads an event's charge.
func readCharge(raw []byte) (*stripego.Charge, error) {
	var ch stripego.Charge
	if err := json.Unmarshal(raw, &ch); err != nil {
		return nil, qlm.BadRequest("data.object", "not a charge: %s", jsonProblem(err))
	}
	if ch.Object != "charge" {
		return nil, qlm.BadRequest("data.object", "not a charge (object %s)", qlm.Quote(ch.Object))
	}
	if err := storefront.CheckID("data.object.id", ch.ID, storefront.MaxPurchaseID); err != nil {
		return nil, err
	}
	return &ch, nil
}

// refunds are a charge's refunds in Stripe's words, newest first: each
// one's id and reason (duplicate, fraudulent, requested_by_customer),
// those the event embeds (API versions before 2022-11-15 do), else those
// the API lists.
func (d *decoder) refunds(ch *stripego.Charge) (string, error) {
	var list []*stripego.Refund
	if ch.Refunds != nil && len(ch.Refunds.Data) > 0 {
		list = ch.Refunds.Data
	} else {
		params := &stripego.RefundListParams{Charge: stripego.String(ch.ID)}
		params.Limit = stripego.Int64(maxListed)
		for rf, err := range d.client().V1Refunds.List(d.ctx, params) {
			if err != nil {
				return "", apiError("data.object.id", "the refunds of charge "+ch.ID, err)
			}
			if list = append(list, rf); len(list) == maxListed {
				break
			}
		}
	}
	var out []string
	for _, rf := range list[:min(len(list), maxListed)] {
		s := qlm.Label(rf.ID)
		if rf.Reason != "" {
			s += " " + qlm.Label(string(rf.Reason))
		}
		out = append(out, s)
	}
	return strings.Join(out, ", "), nil
}

// dispute reads a new dispute of a charge (charge.dispute.created): a
// chargeback, which revokes what the charge paid for. The dispute names
// its charge, read through the API. An inquiry (status warning_...) is
// read the same: the buyer's bank contests the charge; the product's
// on_refund keeps the keys when the vendor would rather wait.
func (d *decoder) dispute(r *storefront.Reading) error {
	var dp stripego.Dispute
	if err := json.Unmarshal(d.event.Data.Raw, &dp); err != nil {
		return qlm.BadRequest("data.object", "not a dispute: %s", jsonProblem(err))
	}
	if err := storefront.CheckID("data.object.id", dp.ID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	var chargeID string
	if dp.Charge != nil {
		chargeID = strings.TrimSpace(dp.Charge.ID)
	}
	if err := storefront.CheckID("data.object.charge", chargeID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	ch, err := d.client().V1Charges.Retrieve(d.ctx, chargeID, nil)
	if err != nil {
		return apiError("data.object.charge", "charge "+chargeID, err)
	}
	var raw []byte
	if ch.LastResponse != nil {
		raw = ch.LastResponse.RawJSON
	}
	var pi string
	if dp.PaymentIntent != nil {
		pi = dp.PaymentIntent.ID
	}
	reason := fmt.Sprintf("Stripe dispute %s (%s, %s) of charge %s", dp.ID, qlm.Label(string(dp.Reason)), qlm.Label(string(dp.Status)), ch.ID)
	return d.revokeCharge(r, storefront.Chargeback, ch, raw, pi, reason)
}

// cancel reads a subscription's end (customer.subscription.deleted): the
// line its checkout keyed is cancelled, as its product's on_cancel says
// (by default the keys run to the end of the period paid for).
func (d *decoder) cancel(r *storefront.Reading) error {
	var sub stripego.Subscription
	if err := json.Unmarshal(d.event.Data.Raw, &sub); err != nil {
		return qlm.BadRequest("data.object", "not a subscription: %s", jsonProblem(err))
	}
	id := strings.TrimSpace(sub.ID)
	if err := storefront.CheckID("data.object.id", id, storefront.MaxPurchaseID); err != nil {
		return err
	}
	reason := "Stripe subscription " + id + " deleted"
	if c := sub.CancellationDetails; c != nil && c.Reason != "" {
		reason += " (" + qlm.Label(string(c.Reason)) + ")"
	}
	r.Revocations = append(r.Revocations, storefront.Revocation{Kind: storefront.Cancel, Subscription: id, Event: d.event.ID, Reason: reason})
	return nil
}

// revokeCharge revokes what a charge paid for: each line of the checkout
// session of its payment intent whose product names a QLM product (the
// lines the session keyed, stripe:<session>-<position>), or else the line
// of the subscription its invoice billed (a subscription's checkout
// collects through its first invoice, and each renewal renews the same
// keys, so either revokes the subscription's line). A charge of neither
// is nothing keysmith keyed. pi is the payment intent when the charge
// does not name it.
func (d *decoder) revokeCharge(r *storefront.Reading, kind string, ch *stripego.Charge, raw []byte, pi, reason string) error {
	if ch.PaymentIntent != nil && ch.PaymentIntent.ID != "" {
		pi = ch.PaymentIntent.ID
	}
	pi = strings.TrimSpace(pi)
	if pi != "" {
		if err := storefront.CheckID("data.object.payment_intent", pi, storefront.MaxPurchaseID); err != nil {
			return err
		}
		found, err := d.revokeSessions(r, kind, pi, reason)
		if err != nil || found {
			return err
		}
	}
	invoices, err := d.invoicesOf(raw, pi)
	if err != nil {
		return err
	}
	if len(invoices) == 0 {
		d.skip(r, "charge %s is of no checkout session and no invoice: nothing keysmith keyed", ch.ID)
		return nil
	}
	for _, id := range invoices {
		in, err := d.client().V1Invoices.Retrieve(d.ctx, id, nil)
		if err != nil {
			return apiError("data.object.invoice", "invoice "+id, err)
		}
		var sub string
		if pa := in.Parent; pa != nil && pa.SubscriptionDetails != nil && pa.SubscriptionDetails.Subscription != nil {
			sub = strings.TrimSpace(pa.SubscriptionDetails.Subscription.ID)
		}
		if err := storefront.CheckID("invoice.subscription", sub, storefront.MaxPurchaseID); err != nil {
			d.skip(r, "invoice %s of charge %s bills no subscription: keysmith keys no invoice but a subscription's", qlm.Label(id), ch.ID)
			continue
		}
		r.Revocations = append(r.Revocations, storefront.Revocation{Kind: kind, Subscription: sub, Event: d.event.ID,
			Reason: fmt.Sprintf("%s: invoice %s of subscription %s", reason, qlm.Label(id), sub)})
	}
	return nil
}

// revokeSessions revokes the lines of the checkout sessions of a payment
// intent; found says whether it has any.
func (d *decoder) revokeSessions(r *storefront.Reading, kind, pi, reason string) (found bool, err error) {
	params := &stripego.CheckoutSessionListParams{PaymentIntent: stripego.String(pi)}
	params.Limit = stripego.Int64(maxListed)
	var sessions []*stripego.CheckoutSession
	for cs, err := range d.client().V1CheckoutSessions.List(d.ctx, params) {
		if err != nil {
			return false, apiError("data.object.payment_intent", "the checkout sessions of payment intent "+pi, err)
		}
		if sessions = append(sessions, cs); len(sessions) == maxListed {
			break
		}
	}
	for _, cs := range sessions {
		if err := storefront.CheckID("checkout_session.id", cs.ID, storefront.MaxPurchaseID); err != nil {
			return false, err
		}
		items, err := d.sessionItems("data.object.payment_intent", cs.ID)
		if err != nil {
			return false, err
		}
		n := 0
		for i, li := range items {
			ok, err := d.ofQLM(li)
			if err != nil {
				return false, lineError(fmt.Sprintf("line_items[%d]", i), err)
			}
			if !ok {
				continue
			}
			n++
			r.Revocations = append(r.Revocations, storefront.Revocation{Kind: kind, Event: d.event.ID,
				Line:   order.LineID{Provider: d.p.Name, PurchaseID: cs.ID, RunningNo: strconv.Itoa(i + 1)},
				Reason: fmt.Sprintf("%s: checkout session %s line %d", reason, cs.ID, i+1)})
		}
		if n == 0 {
			d.skip(r, "checkout session %s of payment intent %s sold nothing keysmith keys", cs.ID, qlm.Label(pi))
		}
	}
	return len(sessions) > 0, nil
}

// ofQLM says whether a session's line item is of a product that names a
// QLM product, as checkoutLine reads it: a line keysmith keyed, or
// refused. A product Stripe no longer holds counts: the API finds the
// line, or answers it as never keyed.
func (d *decoder) ofQLM(li *stripego.LineItem) (bool, error) {
	if li.Price == nil || li.Price.Product == nil || li.Price.Product.ID == "" {
		return false, nil
	}
	product := li.Price.Product
	if product.Object == "" { // not expanded after all
		product = nil
	}
	_, _, skip, err := d.productCall(product, li.Price.Product.ID, false)
	if _, refused := errors.AsType[*qlm.BadRequestError](err); refused {
		return true, nil
	}
	return err == nil && skip == "", err
}

// invoicesOf are the invoices a charge paid: the charge's own invoice, as
// an API version before basil (2025-03-31) gives it at the object's top
// level, else (stripe-go's version, which has no invoice on a charge or a
// payment intent) the invoice payments of its payment intent.
func (d *decoder) invoicesOf(raw []byte, pi string) ([]string, error) {
	var old struct {
		Invoice storefront.ObjectID `json:"invoice"`
	}
	_ = json.Unmarshal(raw, &old) // read before; a field of another shape stays empty
	if id := strings.TrimSpace(string(old.Invoice)); id != "" {
		return []string{id}, nil
	}
	if pi == "" {
		return nil, nil
	}
	params := &stripego.InvoicePaymentListParams{Payment: &stripego.InvoicePaymentListPaymentParams{
		Type: stripego.String(string(stripego.InvoicePaymentPaymentTypePaymentIntent)), PaymentIntent: stripego.String(pi)}}
	params.Limit = stripego.Int64(maxListed)
	var ids []string
	for ip, err := range d.client().V1InvoicePayments.List(d.ctx, params) {
		if err != nil {
			return nil, apiError("data.object.payment_intent", "the invoice payments of payment intent "+pi, err)
		}
		if ip.Invoice != nil && ip.Invoice.ID != "" && !slices.Contains(ids, ip.Invoice.ID) {
			ids = append(ids, ip.Invoice.ID)
		}
		if len(ids) == maxListed {
			break
		}
	}
	return ids, nil
}
