//! The subcommands, one file each: its arguments, its run and its report.

mod analyze;
mod bench;
mod common;
mod crawl;
mod eval;
pub mod exit;
mod info;
mod render;
mod serve;
mod weights;
mod worker;

pub use common::Failure;
use lifelapse::config::Config;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Show what lifelapse finds in each photo: faces, date, age, duplicates, errors.
    #[command(
        after_help = "Example:\n  lifelapse analyze ~/album --born 2001-06-30 --json > album.json"
    )]
    Analyze(analyze::Args),
    /// Make the time-lapse video.
    #[command(
        after_help = "Example:\n  lifelapse render samples/ -o lapse.gif --size 512 --frames-between 12 --fps 12"
    )]
    Render(render::Args),
    /// Time intake, face analysis, rendering and video encoding on this machine.
    Bench(bench::Args),
    /// Measure a time-lapse: identity kept, ghosting, smoothness; or compare renderers.
    #[command(
        after_help = "Examples:\n  lifelapse eval lapse.gif --photos ~/album --json\n  lifelapse eval --compare pixel,morph ~/album --plots eval/\n\nidentity: 1 - descriptor distance to the nearest real photo (higher is better)\nghost: how much a frame shows both neighbouring photos' edges at once, % (lower is better),\n  over the whole frame (ghost, g max) and per region (face, hair, clothes, backgr)\nsmoothness: mean change between consecutive frames in 8-bit levels (lower is smoother)"
    )]
    Eval(eval::Args),
    /// Find dated photos of a person by name (Wikidata, Wikimedia Commons, and an image search
    /// when its key is set) and save them with a manifest.
    #[command(
        after_help = "Example:\n  lifelapse crawl \"Steve Carell\" -o carell/ --max 30\n  lifelapse render carell/ -o carell.gif --born 1962-08-16"
    )]
    Crawl(crawl::Args),
    /// Convert a published StyleGAN2, StyleGAN3, pSp, e4e or ReStyle checkpoint for the stylegan
    /// renderer.
    #[command(
        after_help = "Reads rosinality-layout .pt files (g_ema, latent_avg), NVIDIA's StyleGAN2-ADA and StyleGAN3\nnetwork pickles (.pkl, G_ema), and the pSp / e4e / ReStyle .pt files (state_dict, opts,\nlatent_avg) without running any code inside them, and writes\n<data dir>/models/<name>.<kind>.safetensors with an entry in its MANIFEST.toml.\n\nExample:\n  lifelapse import-weights ~/Downloads/psp_ffhq_encode.pt"
    )]
    ImportWeights(weights::ImportArgs),
    /// Generate images from W+ codes with a StyleGAN2 or StyleGAN3 generator (safetensors in and
    /// out).
    Generate(weights::GenerateArgs),
    /// Encode aligned face images into W+ codes with a pSp, e4e or ReStyle encoder.
    Encode(weights::EncodeArgs),
    /// Run the chat bots: Telegram when LIFELAPSE_TELEGRAM_TOKEN is set, Discord when
    /// LIFELAPSE_DISCORD_TOKEN is set. Sessions live in the data directory, so a restart
    /// continues where the last run stopped.
    Serve,
    /// Run analysis and render jobs for the chat front-ends of a cluster (needs
    /// [cluster] nats_url or LIFELAPSE_CLUSTER_NATS_URL; see docs/deploy.md).
    Worker,
    /// Show the configuration, compute device and optional features.
    Info,
}

/// Runs one subcommand with the settings in effect.
pub fn run(command: Command, config: Config) -> Result<(), Failure> {
    match command {
        Command::Analyze(args) => analyze::run(args, config),
        Command::Render(args) => render::run(args, config),
        Command::Bench(args) => bench::run(args, config),
        Command::Eval(args) => eval::run(args, config),
        Command::Crawl(args) => crawl::run(args, config),
        Command::ImportWeights(args) => weights::import(args, config),
        Command::Generate(args) => weights::generate(args, config),
        Command::Encode(args) => weights::encode(args, config),
        Command::Serve => serve::run(config),
        Command::Worker => worker::run(config),
        Command::Info => info::run(config),
    }
}
