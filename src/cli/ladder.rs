//! `--tiers`, `--tier-up-threshold`, `--tier-up-threads` and
//! `--tier-up-policy`: the tier ladder and its policy from the command
//! line, on top of the `--tier` preset (which says where functions start
//! and whether they climb).

use std::sync::Arc;

use rung::runtime::Config;
use rung::tiering::{CallCountPolicy, PromoteTo, Tier};

/// The ladder options of `rung run`.
#[derive(clap::Args, Debug, Clone)]
pub struct LadderArgs {
    /// The tier ladder, cheapest first, comma-separated: `baseline`,
    /// `optimizer`, or `optimizer-none` (Cranelift without optimizations).
    /// Default: baseline,optimizer.
    #[arg(long, value_name = "TIER,...", value_delimiter = ',')]
    pub tiers: Vec<String>,
    /// Calls (or twice as many loop iterations) before a function climbs.
    #[arg(long, value_name = "N", default_value_t = CallCountPolicy::DEFAULT_THRESHOLD)]
    pub tier_up_threshold: u32,
    /// Background threads that compile hot functions.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub tier_up_threads: usize,
    /// Where a hot function goes: `next` (the next level up) or `top`.
    #[arg(long, value_name = "POLICY", default_value = "next")]
    pub tier_up_policy: String,
    /// Never move a running loop into optimized code (on-stack
    /// replacement): hot functions still climb at their next call.
    #[arg(long)]
    pub no_osr: bool,
}

/// A tier by its command-line name.
pub fn tier(name: &str) -> Result<Arc<dyn Tier>, String> {
    let optimizer = |settings: &[(&str, &str)]| {
        rung::optimizer::OptimizingTier::with_settings(settings)
            .map(|t| Arc::new(t) as Arc<dyn Tier>)
            .map_err(|e| format!("--tiers {name}: {e}"))
    };
    match name {
        "baseline" => Ok(Arc::new(rung::baseline::BaselineTier::new())),
        "optimizer" => optimizer(&[]),
        "optimizer-none" => optimizer(&[("opt_level", "none")]),
        other => Err(format!(
            "--tiers: no tier named `{other}` (baseline, optimizer, optimizer-none)"
        )),
    }
}

impl LadderArgs {
    /// `config` (a `--tier` preset) with this ladder and policy.
    pub fn config(&self, config: Config) -> Result<Config, String> {
        let tiers = self
            .tiers
            .iter()
            .map(|name| tier(name.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let to = match self.tier_up_policy.as_str() {
            "next" => PromoteTo::Next,
            "top" => PromoteTo::Top,
            other => return Err(format!("--tier-up-policy: `{other}` is not next or top")),
        };
        if self.tier_up_threads == 0 {
            return Err("--tier-up-threads: at least 1".into());
        }
        Ok(Config {
            tiers,
            tier_up_policy: Arc::new(CallCountPolicy {
                threshold: self.tier_up_threshold,
                to,
            }),
            tier_up_threads: self.tier_up_threads,
            osr: config.osr && !self.no_osr,
            ..config
        })
    }
}
