-- Activations: which computers hold a key's seats. A key is named by its
-- serial, which a renewal keeps; a released seat keeps its row (released_at)
-- for the record. The partial unique indexes hold the rules even against a
-- writer that skips the lock keysmith takes.
CREATE TABLE activations (
    id            bigserial PRIMARY KEY,
    serial        text NOT NULL,
    computer_id   text NOT NULL,
    computer_name text NOT NULL DEFAULT '',
    app_version   text NOT NULL DEFAULT '',
    seat          integer NOT NULL,
    activated_at  timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz
);
CREATE UNIQUE INDEX activations_computer_idx ON activations (serial, computer_id) WHERE released_at IS NULL;
CREATE UNIQUE INDEX activations_seat_idx ON activations (serial, seat) WHERE released_at IS NULL;
