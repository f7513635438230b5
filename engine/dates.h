/* Dates, times, amounts and percentages in French text, by rules: DATE, TIME, MONEY, PERCENT entities with a
   normalised value (surligne.h's sl_entity.value), and their merging with a model's entities.
   sl_recognize_dates (surligne.h) finds them; sl_dates_merge puts them beside the model's. */
#ifndef SL_DATES_H
#define SL_DATES_H

#include <stddef.h>
#include "error.h"

/* Merges the rule entities `rules` (text order, not overlapping) into the model's entities out->items[from..]
   (text order): a rule entity that overlaps a model entity by one byte or more is dropped — the model read
   the context, so "Mai 68" tagged as an event by a model stays the model's — and the others are inserted
   in text order. On failure (no memory) out is left as it was. */
sl_status sl_dates_merge(sl_entities *out, size_t from, const sl_entities *rules, sl_error *err);

#endif
