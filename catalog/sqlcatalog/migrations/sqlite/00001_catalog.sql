-- +goose Up
-- Times are Unix microseconds (UTC); maps and lists are JSON text. Tables are
-- STRICT, so column types are enforced as in Postgres.
CREATE TABLE products (
    handle      TEXT NOT NULL PRIMARY KEY,
    title       TEXT NOT NULL,
    titles      TEXT NOT NULL DEFAULT '{}',
    brand       TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    attributes  TEXT NOT NULL DEFAULT '{}',
    image_url   TEXT NOT NULL DEFAULT '',
    page_url    TEXT NOT NULL DEFAULT '',
    price_minor INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    size_chart  TEXT NOT NULL DEFAULT '',
    active      INTEGER NOT NULL CHECK (active IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX products_category ON products (category, handle);
CREATE INDEX products_brand ON products (brand, handle);

CREATE TABLE variants (
    sku            TEXT NOT NULL PRIMARY KEY,
    product_handle TEXT NOT NULL REFERENCES products (handle) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    size           TEXT NOT NULL DEFAULT '',
    colour         TEXT NOT NULL DEFAULT '',
    stock          INTEGER NOT NULL CHECK (stock >= 0),
    price_minor    INTEGER
) STRICT;
CREATE INDEX variants_product ON variants (product_handle, position);

-- Stock events outlive their variants and products: no foreign key.
CREATE TABLE stock_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    sku       TEXT NOT NULL,
    -- The product the SKU belonged to at the time.
    product_handle TEXT NOT NULL,
    old_stock INTEGER NOT NULL,
    new_stock INTEGER NOT NULL,
    source    TEXT NOT NULL,
    at        INTEGER NOT NULL
) STRICT;
CREATE INDEX stock_events_sku ON stock_events (sku, id);

CREATE TABLE synonyms (
    term         TEXT NOT NULL PRIMARY KEY,
    alternatives TEXT NOT NULL
) STRICT;

CREATE TABLE size_charts (
    name TEXT NOT NULL PRIMARY KEY,
    body TEXT NOT NULL
) STRICT;

-- +goose Down
DROP TABLE size_charts;
DROP TABLE synonyms;
DROP TABLE stock_events;
DROP TABLE variants;
DROP TABLE products;
