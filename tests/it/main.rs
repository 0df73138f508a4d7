//! All integration tests, in one binary (faster to build and run than one binary per file).

mod admin;
mod api;
mod basemap;
mod bounds;
mod build;
mod cors;
mod encoding;
mod fuzz_regressions;
mod hsds;
mod layering;
mod locate;
mod metrics;
mod nearest;
mod openapi;
mod ogc;
mod pages;
mod privacy;
mod rate_limit;
mod relevance;
mod rolling;
mod search;
mod slow_clients;
mod support;
mod tiles;
mod widget;
