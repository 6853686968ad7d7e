//! Rendering a [`Report`](crate::engine::Report): table, json, yaml, markdown, dot.
