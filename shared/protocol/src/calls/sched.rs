//! `schedtaskpayload` (agent-protocol.md 2.4): a Windows scheduled task as the agent's `SchedTask` decodes it.

use serde::{Deserialize, Serialize};

/// A scheduled task. Start and expiry are the agent's local time; durations are ISO-8601 and must never be
/// "" (the agent's period parser fails and the whole message is dropped), so they are left out when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedTaskPayload {
    /// `TacticalRMM_` + 35 random alphanumerics (reboots: `TacticalRMM_SchedReboot_` + 10 letters).
    pub name: String,
    /// The task's id, passed to `-m taskrunner -p <pk>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pk: Option<i64>,
    /// `rmm`, `schedreboot` or `custom`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// `daily`, `weekly`, `monthly`, `monthlydow`, `runonce`, `manual` or `onboarding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replace a task of the same name (always true from tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overwrite_task: Option<bool>,
    /// 0 parallel, 1 queue, 2 ignore new, 3 stop existing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_instances: Option<u8>,
    /// Delete the task 15 minutes after it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_expired_task_after: Option<bool>,
    /// Run as soon as possible after a missed start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_when_available: Option<bool>,
    /// Start, agent-local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_year: Option<i32>,
    /// Start month (1–12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_month: Option<i32>,
    /// Start day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_day: Option<i32>,
    /// Start hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_hour: Option<i32>,
    /// Start minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_min: Option<i32>,
    /// Expiry, agent-local (only sent when set; the agent applies it only if `expire_min` != 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_year: Option<i32>,
    /// Expiry month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_month: Option<i32>,
    /// Expiry day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_day: Option<i32>,
    /// Expiry hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_hour: Option<i32>,
    /// Expiry minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_min: Option<i32>,
    /// ISO-8601 random delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_delay: Option<String>,
    /// ISO-8601 repetition interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_interval: Option<String>,
    /// ISO-8601 repetition duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_duration: Option<String>,
    /// Stop running instances when the repetition duration ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_at_duration_end: Option<bool>,
    /// Daily: every N days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_interval: Option<u8>,
    /// Weekly: every N weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week_interval: Option<u8>,
    /// Weekly: Sun=1 … Sat=64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_week: Option<u16>,
    /// Monthly: bit 0 = day 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<u32>,
    /// Monthly: also on the last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_on_last_day_of_month: Option<bool>,
    /// Monthly: Jan=1 … Dec=2048.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months_of_year: Option<u16>,
    /// Monthly by weekday: first=1 … last=16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weeks_of_month: Option<u8>,
    /// Custom tasks: the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Custom tasks: the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Custom tasks: the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
}
