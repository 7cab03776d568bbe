//! `TierUpPolicy`: when a function is hot enough to climb the tier ladder,
//! and to which level.
//!
//! The mechanism (DESIGN.md, "Calls, dispatch and tier-up"): every defined
//! function has an `i32` budget in memory the vmctx points to
//! ([`VmOffsets::tier_up_budget`](crate::VmOffsets::tier_up_budget)). Baseline
//! code subtracts [`BUDGET_COST_CALL`] in its prologue and
//! [`BUDGET_COST_LOOP_BACKEDGE`] on every loop back-edge, and calls the
//! `TierUp` libcall when the result is ≤ 0 (signed). The runtime then asks the
//! policy what to do and stores the new budget. Optimized code has no budget
//! checks.
//!
//! The costs follow V8's Liftoff, which charges a fixed cost per function
//! entry (`kTierUpCostForFunctionEntry = 40`) and per tier-up check
//! (`kTierUpCostForCheck = 20`) on top of the bytes of code executed; rung
//! keeps only the fixed costs, so a budget counts calls and iterations.
//!
//! **Invariant:** a policy is a pure decision from its inputs and its own
//! state; it runs on whichever thread hit the budget, so it is `Send + Sync`
//! and must not block.

/// What a prologue subtracts from the budget on every call.
pub const BUDGET_COST_CALL: i32 = 40;

/// What a loop back-edge subtracts from the budget on every iteration.
pub const BUDGET_COST_LOOP_BACKEDGE: i32 = 20;

/// What the runtime does when a function's budget is exhausted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierUpDecision {
    /// Compile the function with the tier at this level of the ladder (or,
    /// if that tier cannot, the next one up) in the background, and publish
    /// it into its slot when done. The level must be above the function's
    /// current one ([`HotFunction::level`]) and at most
    /// [`HotFunction::top`]; anything else is taken as [`Self::Never`].
    /// Meanwhile the budget never runs out, and a function is compiled at
    /// most once per level.
    Promote(usize),
    /// Not yet: store this budget and keep running the current code.
    Reset(i32),
    /// Not now: the budget is set so that it runs out again only after
    /// about 10^8 more calls or back-edges, when the policy is asked again.
    Never,
}

/// A function whose budget ran out, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HotFunction {
    /// The function's absolute index.
    pub func: u32,
    /// The size of its body in bytes.
    pub body_size: u32,
    /// The ladder level of the code it runs now (0 is the cheapest tier).
    pub level: usize,
    /// The highest level of the ladder.
    pub top: usize,
    /// How many calls the runtime has counted for it since the module was
    /// compiled (an estimate: budgets are not exact counters; a loop
    /// back-edge counts as half a call).
    pub calls_observed: u64,
}

impl HotFunction {
    /// The next level up the ladder (the default promotion).
    pub fn next_level(&self) -> usize {
        (self.level + 1).min(self.top)
    }
}

/// Decides when a function climbs the tier ladder, and how far. Research
/// policies plug in here; [`CallCountPolicy`] is the default.
pub trait TierUpPolicy: Send + Sync {
    /// The budget function `func` (absolute index) starts with at ladder
    /// `level`, given its body size in bytes. A budget ≤
    /// [`BUDGET_COST_CALL`] tiers up on the first call.
    fn initial_budget(&self, func: u32, body_size: u32, level: usize) -> i32;

    /// Called by the `TierUp` libcall when `hot`'s budget reached zero, at
    /// most once at a time per function, and never for a function already
    /// queued for promotion or at the top of the ladder.
    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision;
}

/// Where [`CallCountPolicy`] sends a hot function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PromoteTo {
    /// The next level up the ladder.
    #[default]
    Next,
    /// The top of the ladder.
    Top,
}

/// Promote a function after about `threshold` calls (or twice as many loop
/// iterations, which cost half as much), to the next level or the top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCountPolicy {
    /// Calls before tier-up; 0 and 1 both mean "on the first call".
    pub threshold: u32,
    /// Where the function goes.
    pub to: PromoteTo,
}

impl CallCountPolicy {
    /// The default threshold.
    pub const DEFAULT_THRESHOLD: u32 = 1000;

    /// A policy that promotes to the next level after `threshold` calls.
    pub const fn new(threshold: u32) -> CallCountPolicy {
        CallCountPolicy {
            threshold,
            to: PromoteTo::Next,
        }
    }
}

impl Default for CallCountPolicy {
    fn default() -> Self {
        CallCountPolicy::new(CallCountPolicy::DEFAULT_THRESHOLD)
    }
}

impl TierUpPolicy for CallCountPolicy {
    fn initial_budget(&self, _func: u32, _body_size: u32, _level: usize) -> i32 {
        i32::try_from(i64::from(self.threshold) * i64::from(BUDGET_COST_CALL)).unwrap_or(i32::MAX)
    }

    fn on_budget_exhausted(&self, hot: &HotFunction) -> TierUpDecision {
        TierUpDecision::Promote(match self.to {
            PromoteTo::Next => hot.next_level(),
            PromoteTo::Top => hot.top,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What baseline code does: subtract, fire at ≤ 0.
    fn calls_until_tier_up(policy: &dyn TierUpPolicy) -> u32 {
        let mut budget = policy.initial_budget(0, 100, 0);
        let mut calls = 0;
        loop {
            calls += 1;
            budget = budget.saturating_sub(BUDGET_COST_CALL);
            if budget <= 0 {
                return calls;
            }
        }
    }

    #[test]
    fn call_count_policy_fires_after_threshold_calls() {
        assert_eq!(calls_until_tier_up(&CallCountPolicy::new(0)), 1);
        assert_eq!(calls_until_tier_up(&CallCountPolicy::new(1)), 1);
        assert_eq!(calls_until_tier_up(&CallCountPolicy::new(7)), 7);
        assert_eq!(calls_until_tier_up(&CallCountPolicy::default()), 1000);
        let hot = HotFunction {
            func: 3,
            body_size: 10,
            level: 0,
            top: 2,
            calls_observed: 1000,
        };
        assert_eq!(
            CallCountPolicy::default().on_budget_exhausted(&hot),
            TierUpDecision::Promote(1)
        );
        let at_middle = HotFunction { level: 1, ..hot };
        assert_eq!(at_middle.next_level(), 2);
        let to_top = CallCountPolicy {
            to: PromoteTo::Top,
            ..CallCountPolicy::default()
        };
        assert_eq!(to_top.on_budget_exhausted(&hot), TierUpDecision::Promote(2));
    }

    #[test]
    fn huge_thresholds_saturate() {
        assert_eq!(
            CallCountPolicy::new(u32::MAX).initial_budget(0, 0, 0),
            i32::MAX
        );
    }
}
