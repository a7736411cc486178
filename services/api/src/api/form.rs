//! Field-by-field validation of a JSON object with DRF's messages, collecting every field's errors into one
//! `{field: [msg]}` body the way a serializer's `is_valid(raise_exception=True)` does.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// A JSON object being validated.
pub struct Form<'a> {
    map: &'a Map<String, Value>,
    errors: Map<String, Value>,
}

/// Python's name for a JSON value's type, as DRF puts it in messages.
fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The object inside a request body, or DRF's error for anything else.
pub fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object().ok_or_else(|| {
        ApiError::field(
            "non_field_errors",
            format!("Invalid data. Expected a dictionary, but got {}.", py_type(body)),
        )
    })
}

/// For `#[serde(default, deserialize_with = "form::present")]` on an `Option<Value>` field: a null the body
/// sends is `Some(Value::Null)`, told apart from a field it leaves out (`None`).
pub fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// DRF's message for a primary key that names nothing.
pub fn invalid_pk(id: i32) -> String {
    format!("Invalid pk \"{id}\" - object does not exist.")
}

/// Django `parse_datetime`, plus plain dates (midnight); times without an offset are UTC.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A primary key as DRF's `PrimaryKeyRelatedField` reads it: an integer, or a string holding one.
pub fn pk(v: &Value) -> Result<i32, String> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| format!("Incorrect type. Expected pk value, received {}.", py_type(v)))
}

impl<'a> Form<'a> {
    /// Starts validating `map`.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Form {
            map,
            errors: Map::new(),
        }
    }

    /// Whether the key is present (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Whether the key is present as null.
    pub fn is_null(&self, key: &str) -> bool {
        self.map.get(key).is_some_and(Value::is_null)
    }

    /// Records an error for `key`.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.insert(key.to_owned(), json!([message.into()]));
    }

    /// Records a `{index: [msg]}` error for items of the list `key`.
    fn item_errors(&mut self, key: &str, items: Map<String, Value>) {
        if !items.is_empty() {
            self.errors.insert(key.to_owned(), Value::Object(items));
        }
    }

    /// Marks a field missing unless present.
    pub fn require(&mut self, key: &str) {
        if !self.has(key) {
            self.error(key, "This field is required.");
        }
    }

    /// A string field: `Some(Some(s))` when valid, `Some(None)` for an allowed null, `None` when absent or invalid.
    /// Numbers are accepted and stringified, as DRF's CharField does.
    pub fn text(&mut self, key: &str, max: usize, blank: bool, null: bool) -> Option<Option<String>> {
        let v = self.map.get(key)?;
        let s = match v {
            Value::Null if null => return Some(None),
            Value::Null => {
                self.error(key, "This field may not be null.");
                return None;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                self.error(key, "Not a valid string.");
                return None;
            }
        };
        if !blank && s.trim().is_empty() {
            self.error(key, "This field may not be blank.");
            return None;
        }
        if s.chars().count() > max {
            self.error(key, format!("Ensure this field has no more than {max} characters."));
            return None;
        }
        Some(Some(s))
    }

    /// A required-if-present, non-null string.
    pub fn string(&mut self, key: &str, max: usize, blank: bool) -> Option<String> {
        self.text(key, max, blank, false).flatten()
    }

    /// A boolean field.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.map.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                self.error(key, "Must be a valid boolean.");
                None
            }
        }
    }

    /// A nullable date and time, as DRF's `DateTimeField` reads it ([`parse_time`]): `Some(None)` for null.
    pub fn datetime(&mut self, key: &str) -> Option<Option<DateTime<Utc>>> {
        let v = self.map.get(key)?;
        if v.is_null() {
            return Some(None);
        }
        let parsed = v.as_str().and_then(parse_time);
        if parsed.is_none() {
            self.error(
                key,
                "Datetime has wrong format. Use one of these formats instead: \
                 YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
            );
        }
        parsed.map(Some)
    }

    /// A foreign key (`Some(None)` for null); whether it exists is the caller's to check.
    pub fn pk(&mut self, key: &str) -> Option<Option<i32>> {
        match self.map.get(key)? {
            Value::Null => Some(None),
            v => match pk(v) {
                Ok(id) => Some(Some(id)),
                Err(msg) => {
                    self.error(key, msg);
                    None
                }
            },
        }
    }

    /// A many-to-many field: a list of primary keys, reported by its first bad item as DRF does.
    pub fn pk_list(&mut self, key: &str) -> Option<Vec<i32>> {
        let v = self.map.get(key)?;
        let Value::Array(items) = v else {
            let msg = format!("Expected a list of items but got type \"{}\".", py_type(v));
            self.error(key, msg);
            return None;
        };
        match items.iter().map(pk).collect() {
            Ok(ids) => Some(ids),
            Err(msg) => {
                self.error(key, msg);
                None
            }
        }
    }

    /// An integer field of at least `min`.
    pub fn integer(&mut self, key: &str, min: i64) -> Option<i32> {
        let v = self.map.get(key)?;
        let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
        match n.map(i32::try_from) {
            Some(Ok(n)) if i64::from(n) >= min => Some(n),
            Some(Ok(_)) => {
                self.error(key, format!("Ensure this value is greater than or equal to {min}."));
                None
            }
            _ => {
                self.error(key, "A valid integer is required.");
                None
            }
        }
    }

    /// A nullable integer within `min..=max`: `Some(None)` for null, `None` when absent or invalid.
    pub fn int_within(&mut self, key: &str, min: i64, max: i64, null: bool) -> Option<Option<i32>> {
        let v = self.map.get(key)?;
        if v.is_null() {
            if null {
                return Some(None);
            }
            self.error(key, "This field may not be null.");
            return None;
        }
        let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
        match n {
            Some(n) if n < min => self.error(key, format!("Ensure this value is greater than or equal to {min}.")),
            Some(n) if n > max => self.error(key, format!("Ensure this value is less than or equal to {max}.")),
            Some(n) => return i32::try_from(n).ok().map(Some),
            None => self.error(key, "A valid integer is required."),
        }
        None
    }

    /// A nullable boolean.
    pub fn bool_or_null(&mut self, key: &str) -> Option<Option<bool>> {
        match self.map.get(key)? {
            Value::Null => Some(None),
            Value::Bool(b) => Some(Some(*b)),
            _ => {
                self.error(key, "Must be a valid boolean.");
                None
            }
        }
    }

    /// A list of integers of at least `min` (null reads as empty, as a nullable ArrayField).
    pub fn int_list(&mut self, key: &str, min: i64) -> Option<Vec<i64>> {
        let v = self.map.get(key)?;
        let items = match v {
            Value::Null => return Some(Vec::new()),
            Value::Array(items) => items,
            _ => {
                self.error(
                    key,
                    format!("Expected a list of items but got type \"{}\".", py_type(v)),
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bad = Map::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_i64() {
                Some(n) if n >= min => out.push(n),
                Some(_) => {
                    bad.insert(
                        i.to_string(),
                        json!([format!("Ensure this value is greater than or equal to {min}.")]),
                    );
                }
                None => {
                    bad.insert(i.to_string(), json!(["A valid integer is required."]));
                }
            }
        }
        if bad.is_empty() {
            Some(out)
        } else {
            self.item_errors(key, bad);
            None
        }
    }

    /// One of `choices`.
    pub fn choice(&mut self, key: &str, choices: &[&str]) -> Option<String> {
        let v = self.map.get(key)?;
        match v.as_str() {
            Some(s) if choices.contains(&s) => Some(s.to_owned()),
            _ => {
                let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                self.error(key, format!("\"{shown}\" is not a valid choice."));
                None
            }
        }
    }

    /// A list of strings; `check` may reject an item with a message.
    pub fn string_list(&mut self, key: &str, check: impl Fn(&str) -> Option<String>) -> Option<Vec<String>> {
        let v = self.map.get(key)?;
        let Value::Array(items) = v else {
            self.error(
                key,
                format!("Expected a list of items but got type \"{}\".", py_type(v)),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut bad = Map::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(s) => match check(s) {
                    None => out.push(s.to_owned()),
                    Some(msg) => {
                        bad.insert(i.to_string(), json!([msg]));
                    }
                },
                None => {
                    bad.insert(i.to_string(), json!(["Not a valid string."]));
                }
            }
        }
        if bad.is_empty() {
            Some(out)
        } else {
            self.item_errors(key, bad);
            None
        }
    }

    /// The collected errors, if any.
    pub fn finish(self) -> Result<(), Map<String, Value>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}
