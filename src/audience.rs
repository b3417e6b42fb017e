//! Audiences: who gets which sources of a meal.
//!
//! `[recipients] friends` (and "me") get every source at every scheduled meal; a
//! `[[recipients.group]]` gets only its `meals` and `sources`. A friend named in several
//! places gets the union, still as one message (set of parts) per meal. An audience is
//! everyone who gets the same sources for a meal: its message is rendered once, from
//! those sources' reports only, and sent to each of its members.
//!
//! Pure: works on resolved recipients and the config; resolving nicknames against Kakao's
//! friends list and sending are `deliver`'s.

use std::collections::BTreeSet;

use crate::config::{Config, Group};
use crate::deliver::Recipient;
use crate::meal::Meal;

/// Everyone who gets the same sources of one meal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    /// Indices into `config.sources` (and a run's reports), in config order.
    pub sources: Vec<usize>,
    /// The groups whose members are here (empty for `me` and `[recipients] friends`).
    pub groups: Vec<String>,
    /// Who gets it.
    pub members: Vec<Recipient>,
}

impl Audience {
    /// Whether this audience gets every source (the message "me" gets).
    pub fn is_everything(&self, sources: usize) -> bool {
        self.sources.len() == sources
    }

    /// How preview and send-now name it: `everyone` for the audience with every source
    /// (the message "me" gets), else the names of its groups.
    pub fn label(&self, sources: usize) -> String {
        if self.groups.is_empty() || self.is_everything(sources) {
            "everyone".into()
        } else {
            self.groups.join(", ")
        }
    }
}

/// The sources (indices) `group` gets at `meal`; empty when it does not get the meal.
pub fn sources_of(config: &Config, group: &Group, meal: Meal) -> BTreeSet<usize> {
    if !group.has_meal(meal) {
        return BTreeSet::new();
    }
    config
        .sources
        .iter()
        .enumerate()
        .filter(|(_, s)| group.has_source(&s.name))
        .map(|(i, _)| i)
        .collect()
}

/// Split the recipients of `meal` into audiences. `everything` are "me" and the friends of
/// `[recipients] friends` (every source); `groups[i]` are the resolved members of
/// `config.recipients.groups[i]`. The audience with every source comes first (it may have
/// no members); the others follow in order of their sources. A recipient is in exactly one
/// audience, or in none when no entry gives it this meal.
pub fn split(
    config: &Config,
    meal: Meal,
    everything: &[Recipient],
    groups: &[Vec<Recipient>],
) -> Vec<Audience> {
    let all: BTreeSet<usize> = (0..config.sources.len()).collect();
    // Each recipient's union of sources, and the groups that gave it something.
    let mut wants: Vec<(Recipient, BTreeSet<usize>, Vec<String>)> = Vec::new();
    let mut add = |r: &Recipient, sources: &BTreeSet<usize>, group: Option<&str>| {
        let at = match wants.iter().position(|(w, _, _)| w.id == r.id) {
            Some(at) => at,
            None => {
                wants.push((r.clone(), BTreeSet::new(), Vec::new()));
                wants.len() - 1
            }
        };
        let entry = &mut wants[at];
        entry.1.extend(sources.iter().copied());
        if let Some(name) = group.filter(|_| !sources.is_empty())
            && !entry.2.iter().any(|g| g == name)
        {
            entry.2.push(name.to_string());
        }
    };
    for r in everything {
        add(r, &all, None);
    }
    for (group, members) in config.recipients.groups.iter().zip(groups) {
        let sources = sources_of(config, group, meal);
        for r in members {
            add(r, &sources, Some(&group.name));
        }
    }
    let mut audiences = vec![Audience {
        sources: all.iter().copied().collect(),
        groups: Vec::new(),
        members: Vec::new(),
    }];
    for (recipient, sources, names) in wants {
        if sources.is_empty() {
            continue;
        }
        let sources: Vec<usize> = sources.into_iter().collect();
        let at = match audiences.iter().position(|a| a.sources == sources) {
            Some(at) => at,
            None => {
                audiences.push(Audience {
                    sources,
                    groups: Vec::new(),
                    members: Vec::new(),
                });
                audiences.len() - 1
            }
        };
        let audience = &mut audiences[at];
        for name in names {
            if !audience.groups.contains(&name) {
                audience.groups.push(name);
            }
        }
        audience.members.push(recipient);
    }
    audiences[1..].sort_by(|a, b| a.sources.cmp(&b.sources));
    audiences
}

/// The groups (by name) a recipient belongs to, for history and status: matched by the
/// uuid or the nickname as written in the config.
pub fn groups_of(config: &Config, recipient: &str, nickname: Option<&str>) -> Vec<String> {
    config
        .recipients
        .groups
        .iter()
        .filter(|g| {
            g.friends
                .iter()
                .any(|f| f == recipient || nickname.is_some_and(|n| n == f))
        })
        .map(|g| g.name.clone())
        .collect()
}

/// For the quota estimate: the messages a day of each friend named only in groups (by
/// name as configured, not in `[recipients] friends`), from each meal's run (`runs`) and
/// how often the meal fires (`fires`): each counts its own audience's parts.
pub fn partial_loads(
    config: &Config,
    runs: &[crate::deliver::Run],
    fires: impl Fn(Meal) -> u64,
) -> Vec<u64> {
    let named = |names: &[String]| -> Vec<Recipient> {
        names
            .iter()
            .filter(|n| !config.recipients.friends.contains(n))
            .map(|n| Recipient {
                id: n.clone(),
                nickname: None,
            })
            .collect()
    };
    let groups: Vec<Vec<Recipient>> = config
        .recipients
        .groups
        .iter()
        .map(|g| named(&g.friends))
        .collect();
    let mut loads: Vec<(String, u64)> = Vec::new();
    for run in runs {
        for audience in split(config, run.meal, &[], &groups) {
            if audience.members.is_empty() {
                continue;
            }
            let parts = run
                .render_for(config, &audience.sources)
                .parts
                .iter()
                .filter(|p| p.audience == crate::message::Audience::Everyone)
                .count() as u64;
            for member in &audience.members {
                let n = parts * fires(run.meal);
                match loads.iter_mut().find(|(id, _)| *id == member.id) {
                    Some((_, total)) => *total += n,
                    None => loads.push((member.id.clone(), n)),
                }
            }
        }
    }
    loads.into_iter().map(|(_, n)| n).collect()
}

/// For `status`: one line per group, `group:  점심 B만 — lunch; B식당; 김민준, fuuid7`.
pub fn describe_groups(config: &Config) -> String {
    let mut text = String::new();
    for group in &config.recipients.groups {
        let meals = if group.meals.is_empty() {
            "every meal".to_string()
        } else {
            let names: Vec<&str> = group.meals.iter().map(|m| m.as_str()).collect();
            names.join(", ")
        };
        let sources = if group.sources.is_empty() {
            "every source".to_string()
        } else {
            group.sources.join(", ")
        };
        text.push_str(&format!(
            "group:  {} — {meals}; {sources}; {}\n",
            group.name,
            group.friends.join(", ")
        ));
    }
    text
}

/// For `status --json`: `[{"name", "friends", "meals", "sources"}]` (empty lists: all).
pub fn groups_json(config: &Config) -> serde_json::Value {
    serde_json::Value::Array(
        config
            .recipients
            .groups
            .iter()
            .map(|g| {
                serde_json::json!({
                    "name": g.name,
                    "friends": g.friends,
                    "meals": g.meals,
                    "sources": g.sources,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_toml(
            "[[source]]\nname = \"A식당\"\nurl = \"https://a.kr\"\ntable = \"table\"\n\
             [[source]]\nname = \"B식당\"\nurl = \"https://b.kr\"\ntable = \"table\"\n\
             [schedule]\nlunch = \"0 30 11 * * *\"\ndinner = \"0 30 17 * * *\"\n\
             [recipients]\nfriends = [\"u-f\"]\n\
             [[recipients.group]]\nname = \"점심 B만\"\nfriends = [\"u-x\", \"u-y\"]\nmeals = [\"lunch\"]\nsources = [\"B식당\"]\n\
             [[recipients.group]]\nname = \"A도\"\nfriends = [\"u-y\"]\nsources = [\"A식당\"]\n",
            None,
        )
        .expect("valid config")
    }

    fn r(id: &str) -> Recipient {
        Recipient {
            id: id.into(),
            nickname: None,
        }
    }

    fn ids(a: &Audience) -> Vec<&str> {
        a.members.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn each_recipient_lands_in_the_one_audience_of_the_union_of_its_entries() {
        let config = config();
        let groups = [vec![r("u-x"), r("u-y")], vec![r("u-y")]];
        let everything = [Recipient::me(), r("u-f")];
        let lunch = split(&config, Meal::Lunch, &everything, &groups);
        assert_eq!(lunch.len(), 2, "{lunch:?}");
        assert_eq!(lunch[0].sources, [0, 1]);
        // u-y is in both groups at lunch: A (second group) + B (first) = everything.
        assert_eq!(ids(&lunch[0]), ["me", "u-f", "u-y"]);
        assert_eq!(lunch[1].sources, [1]);
        assert_eq!(ids(&lunch[1]), ["u-x"]);
        assert_eq!(lunch[1].label(2), "점심 B만");

        let dinner = split(&config, Meal::Dinner, &everything, &groups);
        assert_eq!(ids(&dinner[0]), ["me", "u-f"]);
        assert_eq!(dinner.len(), 2, "u-x gets no dinner: {dinner:?}");
        assert_eq!(dinner[1].sources, [0]);
        assert_eq!(ids(&dinner[1]), ["u-y"]);
        assert_eq!(dinner[1].label(2), "A도");
    }

    #[test]
    fn a_recipients_groups_are_found_by_uuid_or_nickname() {
        let config = config();
        assert_eq!(groups_of(&config, "u-y", None), ["점심 B만", "A도"]);
        assert!(groups_of(&config, "u-f", Some("이서연")).is_empty());
    }
}
