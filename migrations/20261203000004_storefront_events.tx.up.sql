-- Storefront events keysmith could not act on: a refund, chargeback or
-- cancellation for a line it never keyed. The storefront is answered 200
-- (it would send the event for ever), and the event is kept here for
-- support, once per provider and event id.
CREATE TABLE storefront_events (
    id           bigserial PRIMARY KEY,
    provider     text NOT NULL,
    event_id     text NOT NULL,
    kind         text NOT NULL,
    line         text NOT NULL DEFAULT '',
    subscription text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    problem      text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, event_id, line, subscription)
);
