-- What support staff did for an order line, and who and why: a resent
-- email, a parked email retried. The same facts are in the order's
-- workflow history; this table lets `keysmith support find` show them.
CREATE TABLE support_actions (
    id          bigserial PRIMARY KEY,
    provider    text NOT NULL,
    purchase_id text NOT NULL,
    running_no  text NOT NULL,
    action      text NOT NULL,
    actor       text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    email_to    text NOT NULL DEFAULT '',
    email_id    text,
    workflow_id text NOT NULL,
    request_id  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id)
);
CREATE INDEX support_actions_line_idx ON support_actions (provider, purchase_id, running_no);
