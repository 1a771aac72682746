package testenv

import (
	"time"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
)

// OrderDate is the purchase date of OrderLine.
var OrderDate = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// OrderLine is an order line as the API builds it from a ShareIt call: one
// subscription key with three seats, mailed to the buyer.
func OrderLine(purchaseID string) order.Line {
	return order.Line{
		LineID:    order.LineID{Provider: "shareit", PurchaseID: purchaseID, RunningNo: "1"},
		OrderDate: OrderDate,
		Product: order.Product{
			ID: 300123, Major: 2, Minor: 4,
			Name:         "Keysmith Desktop Pro",
			FeatureNames: []string{"Export", "Cloud sync"},
		},
		Features:      license.Features{3, 0, 5, 0},
		Quantity:      1,
		KeyCount:      1,
		Seats:         3,
		Model:         "subscription",
		ExpiresInDays: 365,
		Customer: order.Customer{
			Email: "ada.buyer@example.com", Name: "Ada Buyer", Company: "Buyer GmbH",
			Street: "Hauptstr. 1", City: "Berlin", Zip: "10115", State: "BE",
			Country: "Germany", ISOCode: "DE", Phone: "+49 30 1234567",
		},
		Email: order.Email{Send: true, Template: "default"},
		Fields: map[string]string{
			"PURCHASE_ID": purchaseID, "RUNNING_NO": "1", "PRODUCT_ID": "300123",
			"QUANTITY": "1", "EMAIL": "ada.buyer@example.com",
		},
		Args: map[string]string{"is_productid": "300123", "is_features": "0:3;2:5"},
	}
}
