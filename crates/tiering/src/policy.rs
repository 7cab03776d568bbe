//! `TierUpPolicy`: when a baseline function is hot enough to optimize.
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
    /// Compile the function with the next tier in the background and publish
    /// it into its slot when done. The runtime sets the budget to `i32::MAX`
    /// meanwhile, so the libcall does not fire again.
    Optimize,
    /// Not yet: store this budget and keep running baseline code.
    Reset(i32),
    /// Never optimize this function; the budget is set to `i32::MAX` and the
    /// policy is not asked again unless it runs out anyway.
    Never,
}

/// Decides when a baseline function is optimized. Research policies plug in
/// here; [`CallCountPolicy`] is the default.
pub trait TierUpPolicy: Send + Sync {
    /// The budget function `func` (absolute index) starts with, given its
    /// body size in bytes. A budget ≤ [`BUDGET_COST_CALL`] tiers up on the
    /// first call.
    fn initial_budget(&self, func: u32, body_size: u32) -> i32;

    /// Called by the `TierUp` libcall when `func`'s budget reached zero.
    /// `calls_observed` is how many calls the runtime has counted for it
    /// since instantiation (an estimate: budgets are not exact counters).
    fn on_budget_exhausted(&self, func: u32, calls_observed: u64) -> TierUpDecision;
}

/// Optimize a function after about `threshold` calls (or half as many loop
/// iterations, which cost half as much).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCountPolicy {
    /// Calls before tier-up; 0 and 1 both mean "on the first call".
    pub threshold: u32,
}

impl CallCountPolicy {
    /// The default threshold.
    pub const DEFAULT_THRESHOLD: u32 = 1000;

    /// A policy that tiers up after `threshold` calls.
    pub const fn new(threshold: u32) -> CallCountPolicy {
        CallCountPolicy { threshold }
    }
}

impl Default for CallCountPolicy {
    fn default() -> Self {
        CallCountPolicy::new(CallCountPolicy::DEFAULT_THRESHOLD)
    }
}

impl TierUpPolicy for CallCountPolicy {
    fn initial_budget(&self, _func: u32, _body_size: u32) -> i32 {
        i32::try_from(i64::from(self.threshold) * i64::from(BUDGET_COST_CALL)).unwrap_or(i32::MAX)
    }

    fn on_budget_exhausted(&self, _func: u32, _calls_observed: u64) -> TierUpDecision {
        TierUpDecision::Optimize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What baseline code does: subtract, fire at ≤ 0.
    fn calls_until_tier_up(policy: &dyn TierUpPolicy) -> u32 {
        let mut budget = policy.initial_budget(0, 100);
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
        assert_eq!(
            CallCountPolicy::default().on_budget_exhausted(3, 1000),
            TierUpDecision::Optimize
        );
    }

    #[test]
    fn huge_thresholds_saturate() {
        assert_eq!(
            CallCountPolicy::new(u32::MAX).initial_budget(0, 0),
            i32::MAX
        );
    }
}
