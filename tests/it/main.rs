//! All integration tests, in one binary (faster to build and run than one binary per file).

mod admin;
mod api;
mod bounds;
mod build;
mod cors;
mod encoding;
mod fuzz_regressions;
mod locate;
mod metrics;
mod nearest;
mod pages;
mod privacy;
mod rate_limit;
mod relevance;
mod rolling;
mod search;
mod slow_clients;
mod support;
mod tiles;
