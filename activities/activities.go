// Package activities holds the side effects of keysmith's workflows: key
// signing, Postgres writes and the buyer's email.
package activities

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/license"
	kmail "github.com/keysmith/keysmith/mail"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/store"
	"github.com/keysmith/keysmith/telemetry"
)

// EmailAttempts bounds the retries of a transient mail failure (about an
// hour with the workflow's backoff) before the email is parked.
const EmailAttempts = 20

// Activities holds the dependencies of every activity. Workflows refer to
// its methods through a nil *Activities, so the compiler checks the names.
type Activities struct {
	Signer    *license.SigningKey
	Store     *store.Store
	Mailer    kmail.Sender
	Templates *kmail.Templates
	From      string
	ReplyTo   string
	// Metrics counts emails; nil counts nothing.
	Metrics *telemetry.Metrics
	// Config names the products' features and templates for support's
	// resend; nil: the stored product name and the default template.
	Config *config.Config
}

// GenerateKeys signs the order line's keys. The result depends only on the
// line and the signing key: each key's serial comes from the line's ID and
// position, so signing again gives the same keys.
func (a *Activities) GenerateKeys(_ context.Context, line order.Line) ([]order.Key, error) {
	if a.Signer == nil {
		return nil, errors.New("no signing key configured")
	}
	if _, _, err := license.ParseModel(line.Model); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadLine", nil)
	}
	keys := make([]order.Key, line.KeyCount)
	if line.KeyFormat == "short" {
		// The same text for the original and its renewals: the server
		// keeps the claims, and a renewal's later expiry.
		name := line.ID()
		if line.Renews != nil {
			name = line.Renews.Name()
		}
		for i := range keys {
			k, serial := license.ShortKey(*a.Signer, name, i+1)
			keys[i] = order.Key{Key: k, Serial: fmt.Sprintf("%016x", serial), Seats: line.Seats}
		}
		return keys, nil
	}
	for i := range keys {
		serial, err := keySerial(line, i)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadLine", nil)
		}
		claims, err := line.Claims(serial)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadLine", nil)
		}
		k, err := license.Sign(*a.Signer, claims)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), "BadLine", nil)
		}
		keys[i] = order.Key{Key: k, Serial: fmt.Sprintf("%016x", serial), Seats: line.Seats}
	}
	return keys, nil
}

// keySerial is the serial of the line's i-th key: derived from the line's
// name and the key's position, or a renewal's original one.
func keySerial(line order.Line, i int) (uint64, error) {
	if line.Renews != nil {
		if i >= len(line.Renews.Serials) {
			return 0, fmt.Errorf("renewal of %s: no serial for key %d", line.Renews.Name(), i+1)
		}
		return strconv.ParseUint(line.Renews.Serials[i], 16, 64)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", line.ID(), i+1))
	return binary.BigEndian.Uint64(sum[:8]), nil
}

// Delivery is whether the storefront received a line's keys, as its
// workflow knows it when the line is saved: Status "" (not asked),
// confirmed or unconfirmed (held), and how that is known.
type Delivery struct {
	Status, Reason string
}

// SaveOrder upserts the customer and stores the order line with its keys,
// or, for a renewal, the renewal linked to the original line. Histories
// from before delivery reports schedule it without one: a zero Delivery.
func (a *Activities) SaveOrder(ctx context.Context, line order.Line, keys []order.Key, delivery Delivery) error {
	if line.Renews != nil {
		return a.saveRenewal(ctx, line, keys, delivery)
	}
	c := line.Customer
	row := orderRow(ctx, line, delivery)
	rows := make([]store.LicenseKey, len(keys))
	for i, k := range keys {
		rows[i] = store.LicenseKey{Position: i + 1, Key: k.Key, Serial: k.Serial, Seats: k.Seats}
	}
	if err := a.Store.SaveOrder(ctx, customer(c), row, rows); err != nil {
		return err
	}
	if delivery.Status == "unconfirmed" {
		a.Metrics.Delivery("held")
	}
	return nil
}

func (a *Activities) saveRenewal(ctx context.Context, line order.Line, keys []order.Key, delivery Delivery) error {
	o := line.Renews
	row := &store.RenewalRow{Kind: o.Kind, LineRecord: lineRecord(ctx, line, delivery)}
	rows := make([]store.RenewalKey, len(keys))
	for i, k := range keys {
		rows[i] = store.RenewalKey{Position: i + 1, Key: k.Key, Serial: k.Serial, Seats: k.Seats}
	}
	if err := a.Store.SaveRenewal(ctx, customer(line.Customer), o.LineID, row, rows); err != nil {
		return err
	}
	if delivery.Status == "unconfirmed" {
		a.Metrics.Delivery("held")
	}
	return nil
}

// orderRow is the order line as stored.
func orderRow(ctx context.Context, line order.Line, delivery Delivery) *store.OrderRow {
	return &store.OrderRow{
		LineRecord:   lineRecord(ctx, line, delivery),
		ProductID:    line.Product.ID,
		Major:        line.Product.Major,
		Minor:        line.Product.Minor,
		ProductName:  line.Product.Name,
		Quantity:     line.Quantity,
		Features:     line.Features.String(),
		LicenseModel: line.Model,
		Subscription: optionalText(line.Subscription),
	}
}

func optionalText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// lineRecord is what an order line and a renewal both store of the line.
func lineRecord(ctx context.Context, line order.Line, delivery Delivery) store.LineRecord {
	return store.LineRecord{
		Delivery:       delivery.Status,
		DeliveryReason: delivery.Reason,
		Provider:       line.Provider,
		PurchaseID:     line.PurchaseID,
		RunningNo:      line.RunningNo,
		ExpiresAt:      optionalDate(line.ExpiryDate()),
		Maintenance:    optionalDate(line.MaintenanceDate()),
		OrderDate:      line.OrderDate,
		Fields:         nonNil(line.Fields),
		Args:           nonNil(line.Args),
		Warnings:       append([]string{}, line.Warnings...),
		WorkflowID:     activity.GetInfo(ctx).WorkflowExecution.ID,
		EmailStatus:    firstEmailStatus(line),
	}
}

// firstEmailStatus is the email's state when the line is saved, as the
// workflow decides it: skipped when nothing is to be sent.
func firstEmailStatus(line order.Line) string {
	if !line.Email.Send || line.Customer.Email == "" {
		return "skipped"
	}
	return "pending"
}

func customer(c order.Customer) *store.Customer {
	return &store.Customer{
		Email: c.Email, Name: c.Name, Company: c.Company,
		Street: c.Street, City: c.City, Zip: c.Zip, State: c.State,
		Country: c.Country, ISOCode: c.ISOCode, Phone: c.Phone,
	}
}

func optionalDate(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// DeliveryChange settles a held line: confirmed (its keys activate, the
// email follows) or cancelled (its keys revoked, no email).
type DeliveryChange struct {
	Line           string // order.Name of the line or renewal
	Renewal        bool
	Status, Reason string
}

// SetDelivery records how a held line was settled.
func (a *Activities) SetDelivery(ctx context.Context, c DeliveryChange) error {
	id, err := order.ParseName(c.Line)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadRequest", nil)
	}
	if err := a.Store.SetDelivery(ctx, id, c.Status, c.Reason); err != nil {
		return err
	}
	a.Metrics.Delivery(c.Status)
	return nil
}

// EmailRequest is the input of SendEmail.
type EmailRequest struct {
	Line           order.Line
	Keys           []order.Key
	To             string
	IdempotencyKey string
}

// SendEmail mails the keys to the buyer and records the outcome on the
// order. Transient failures (rate limit, 5xx, network) are retried, with
// Resend's Retry-After when it gives one; permanent ones are not.
func (a *Activities) SendEmail(ctx context.Context, req EmailRequest) (string, error) {
	l := req.Line
	subject, text, html, err := a.Templates.Render(l.Email.Template, kmail.Data{
		Keys:                   order.Keys(req.Keys),
		ProductName:            l.Product.Name,
		ProductID:              l.Product.ID,
		Major:                  l.Product.Major,
		Minor:                  l.Product.Minor,
		OrderID:                l.PurchaseID,
		OrderDate:              l.OrderDate,
		Seats:                  l.Seats * len(req.Keys),
		Features:               l.Features.String(),
		FeatureNames:           l.Product.FeatureNames,
		LicenseModel:           l.Model,
		Expires:                l.ExpiryDate(),
		MaintenanceRenewalDate: l.MaintenanceDate(),
		Renewal:                l.Renews != nil,
		FullName:               l.Customer.Name,
		Email:                  req.To,
		Company:                l.Customer.Company,
	})
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("render email: "+err.Error(), "Template", nil)
	}
	id, err := a.Mailer.Send(ctx, kmail.Message{
		From:           a.From,
		To:             req.To,
		ReplyTo:        a.ReplyTo,
		Subject:        subject,
		Text:           text,
		HTML:           html,
		IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return "", a.mailFailure(ctx, l, err)
	}
	a.Metrics.Email("sent")
	if err := a.Store.SetEmailStatus(ctx, l.LineID, "sent", id); err != nil {
		// The mail is out; the idempotency key makes the retry send nothing.
		return "", err
	}
	return id, nil
}

// mailFailure classifies a send error for Temporal and, when the workflow
// is about to park, records the failure on the order.
func (a *Activities) mailFailure(ctx context.Context, l order.Line, err error) error {
	var me *kmail.Error
	if !errors.As(err, &me) {
		me = &kmail.Error{Reason: err.Error()}
	}
	info := activity.GetInfo(ctx)
	last := me.Permanent || (info.RetryPolicy != nil && info.RetryPolicy.MaximumAttempts > 0 &&
		info.Attempt >= info.RetryPolicy.MaximumAttempts)
	if last {
		a.Metrics.Email("parked")
	} else {
		a.Metrics.Email("failed")
	}
	if last {
		if serr := a.Store.SetEmailStatus(ctx, l.LineID, "failed", ""); serr != nil {
			activity.GetLogger(ctx).Warn("Record email failure", "error", serr)
		}
	}
	if me.Permanent {
		return temporal.NewNonRetryableApplicationError(me.Error(), "MailPermanent", nil)
	}
	return temporal.NewApplicationErrorWithOptions(me.Error(), "MailTransient",
		temporal.ApplicationErrorOptions{NextRetryDelay: me.RetryAfter})
}

// ValidAddress reports whether s is a plain email address. Workflows call
// it: net/mail logs only in its debug build, so parsing is deterministic.
//
//workflowcheck:ignore
func ValidAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}
