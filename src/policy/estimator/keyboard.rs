//! Keyboard layouts for spatial runs (`qwerty`, `zaq1`, `7896321`).
//!
//! A layout is rows of keys; each key carries its unshifted character and,
//! on typewriter keyboards, its shifted one. Typewriter rows are slanted:
//! the key at `(x, y)` touches `(x±1, y)`, `(x, y-1)`, `(x+1, y-1)`,
//! `(x, y+1)` and `(x-1, y+1)` (six neighbours), with each row's first key
//! placed at its x offset. Keypads are a grid with eight neighbours. A run's
//! direction is the neighbour slot it moves through; changing direction is
//! a turn.

use std::sync::OnceLock;

/// Where a character sits: its key's column and row, and whether it is the
/// key's shifted character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    x: i8,
    y: i8,
    pub(super) shifted: bool,
}

pub(super) struct Layout {
    /// Slanted typewriter rows (six neighbours) or a keypad grid (eight).
    slanted: bool,
    /// Position of each ASCII character.
    ascii: [Option<Key>; 128],
    /// Positions of the other characters (a few per layout).
    other: Vec<(char, Key)>,
    /// Number of characters on the layout: the places a run can start.
    pub(super) starts: f64,
    /// Average number of neighbouring keys of a character.
    pub(super) degree: f64,
}

/// One row: the x of its first key, then its keys separated by spaces, each
/// the unshifted character followed by the shifted one (if any).
type Rows = &'static [(i8, &'static str)];

const QWERTY: Rows = &[
    (0, "`~ 1! 2@ 3# 4$ 5% 6^ 7& 8* 9( 0) -_ =+"),
    (1, "qQ wW eE rR tT yY uU iI oO pP [{ ]} \\|"),
    (1, "aA sS dD fF gG hH jJ kK lL ;: '\""),
    (1, "zZ xX cC vV bB nN mM ,< .> /?"),
];

const QWERTZ: Rows = &[
    (0, "^° 1! 2\" 3§ 4$ 5% 6& 7/ 8( 9) 0= ß? ´`"),
    (1, "qQ wW eE rR tT zZ uU iI oO pP üÜ +*"),
    (1, "aA sS dD fF gG hH jJ kK lL öÖ äÄ #'"),
    (0, "<> yY xX cC vV bB nN mM ,; .: -_"),
];

const AZERTY: Rows = &[
    (0, "² &1 é2 \"3 '4 (5 -6 è7 _8 ç9 à0 )° =+"),
    (1, "aA zZ eE rR tT yY uU iI oO pP ^¨ $£"),
    (1, "qQ sS dD fF gG hH jJ kK lL mM ù% *µ"),
    (0, "<> wW xX cC vV bB nN ,? ;. :/ !§"),
];

const KEYPAD: Rows = &[
    (1, "/ * -"),
    (0, "7 8 9 +"),
    (0, "4 5 6"),
    (0, "1 2 3"),
    (1, "0 ."),
];

impl Layout {
    fn new(rows: Rows, slanted: bool) -> Layout {
        let mut layout = Layout {
            slanted,
            ascii: [None; 128],
            other: Vec::new(),
            starts: 0.0,
            degree: 0.0,
        };
        let mut keys: Vec<(i8, i8)> = Vec::new();
        for (y, (offset, row)) in rows.iter().enumerate() {
            for (k, key) in row.split(' ').enumerate() {
                let (x, y) = (offset + k as i8, y as i8);
                keys.push((x, y));
                for (i, c) in key.chars().enumerate() {
                    let place = Key {
                        x,
                        y,
                        shifted: i == 1,
                    };
                    match layout.ascii.get_mut(c as usize) {
                        Some(slot) if slot.is_none() => *slot = Some(place),
                        Some(_) => {}
                        None => layout.other.push((c, place)),
                    }
                }
            }
        }
        // Average degree over characters: each character of a key has the
        // key's neighbours.
        let (mut chars, mut neighbours) = (0usize, 0usize);
        for (y, (offset, row)) in rows.iter().enumerate() {
            for (k, key) in row.split(' ').enumerate() {
                let here = Key {
                    x: offset + k as i8,
                    y: y as i8,
                    shifted: false,
                };
                let n = keys
                    .iter()
                    .filter(|&&(x, y)| {
                        layout
                            .direction(
                                here,
                                Key {
                                    x,
                                    y,
                                    shifted: false,
                                },
                            )
                            .is_some()
                    })
                    .count();
                let c = key.chars().count();
                chars += c;
                neighbours += n * c;
            }
        }
        layout.starts = chars as f64;
        layout.degree = neighbours as f64 / chars.max(1) as f64;
        layout
    }

    /// The key of `c`, if `c` is on this layout.
    #[inline]
    pub(super) fn key(&self, c: char) -> Option<Key> {
        match self.ascii.get(c as usize) {
            Some(k) => *k,
            None => self.other.iter().find(|(o, _)| *o == c).map(|&(_, k)| k),
        }
    }

    /// The neighbour slot that leads from `a` to `b`, if the keys touch.
    #[inline]
    pub(super) fn direction(&self, a: Key, b: Key) -> Option<u8> {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        if self.slanted {
            match (dx, dy) {
                (-1, 0) => Some(0),
                (0, -1) => Some(1),
                (1, -1) => Some(2),
                (1, 0) => Some(3),
                (0, 1) => Some(4),
                (-1, 1) => Some(5),
                _ => None,
            }
        } else if (dx, dy) != (0, 0) && dx.abs() <= 1 && dy.abs() <= 1 {
            Some(((dy + 1) * 3 + dx + 1) as u8)
        } else {
            None
        }
    }

    /// Whether shifted characters count as such (typewriter keyboards).
    pub(super) fn has_shift(&self) -> bool {
        self.slanted
    }
}

/// US QWERTY, German QWERTZ, French AZERTY and a numeric keypad.
pub(super) fn layouts() -> &'static [Layout] {
    static LAYOUTS: OnceLock<Vec<Layout>> = OnceLock::new();
    LAYOUTS.get_or_init(|| {
        vec![
            Layout::new(QWERTY, true),
            Layout::new(QWERTZ, true),
            Layout::new(AZERTY, true),
            Layout::new(KEYPAD, false),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touches(layout: &Layout, a: char, b: char) -> bool {
        match (layout.key(a), layout.key(b)) {
            (Some(a), Some(b)) => layout.direction(a, b).is_some(),
            _ => false,
        }
    }

    #[test]
    fn neighbours_on_each_layout() {
        let l = layouts();
        assert!(touches(&l[0], 'q', 'w') && touches(&l[0], 'q', '2') && touches(&l[0], 'q', 'a'));
        assert!(touches(&l[0], 'a', 'z') && touches(&l[0], 's', 'z') && !touches(&l[0], 'q', 'z'));
        assert!(touches(&l[0], 'Q', '@') && l[0].key('@').is_some_and(|k| k.shifted));
        assert!(touches(&l[1], 't', 'z') && touches(&l[1], 'a', 'y'));
        assert!(touches(&l[2], 'a', 'z') && touches(&l[2], 'q', 'w') && touches(&l[2], 'é', 'z'));
        assert!(touches(&l[3], '7', '5') && touches(&l[3], '1', '0') && !touches(&l[3], '1', '3'));
        // Starting places and average degree, as the estimate uses them.
        assert_eq!(l[0].starts, 94.0);
        assert!((4.0..5.0).contains(&l[0].degree), "{}", l[0].degree);
        assert_eq!(l[3].starts, 15.0);
        assert!((4.0..6.0).contains(&l[3].degree), "{}", l[3].degree);
    }
}
