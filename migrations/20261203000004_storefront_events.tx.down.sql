DROP TABLE IF EXISTS storefront_events;
