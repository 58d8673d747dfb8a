-- +goose Up
-- Times are Unix microseconds (UTC); maps and lists are JSON text. Keys use
-- the C collation so that they sort bytewise, as in SQLite and Go.
CREATE TABLE products (
    handle      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    title       TEXT NOT NULL,
    titles      TEXT NOT NULL DEFAULT '{}',
    brand       TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    attributes  TEXT NOT NULL DEFAULT '{}',
    image_url   TEXT NOT NULL DEFAULT '',
    page_url    TEXT NOT NULL DEFAULT '',
    price_minor BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    size_chart  TEXT NOT NULL DEFAULT '',
    active      BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX products_category ON products (category, handle);
CREATE INDEX products_brand ON products (brand, handle);

CREATE TABLE variants (
    sku            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    product_handle TEXT COLLATE "C" NOT NULL REFERENCES products (handle) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    size           TEXT NOT NULL DEFAULT '',
    colour         TEXT NOT NULL DEFAULT '',
    stock          INTEGER NOT NULL CHECK (stock >= 0),
    price_minor    BIGINT
);
CREATE INDEX variants_product ON variants (product_handle, position);

-- Stock events outlive their variants and products: no foreign key.
CREATE TABLE stock_events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku       TEXT COLLATE "C" NOT NULL,
    -- The product the SKU belonged to at the time.
    product_handle TEXT COLLATE "C" NOT NULL,
    old_stock INTEGER NOT NULL,
    new_stock INTEGER NOT NULL,
    source    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX stock_events_sku ON stock_events (sku, id);

CREATE TABLE synonyms (
    term         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    alternatives TEXT NOT NULL
);

CREATE TABLE size_charts (
    name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    body TEXT NOT NULL
);

-- +goose Down
DROP TABLE size_charts;
DROP TABLE synonyms;
DROP TABLE stock_events;
DROP TABLE variants;
DROP TABLE products;
