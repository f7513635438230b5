/* Dates, times, amounts and percentages in French text, by rules: DATE, TIME, MONEY, PERCENT entities with a
   normalised value (surligne.h's sl_entity.value), and their merging with a model's entities.
   sl_recognize_dates (surligne.h) finds them; sl_dates_merge puts them beside the model's. */
#ifndef SL_DATES_H
#define SL_DATES_H

#include <stddef.h>
#include "error.h"

/* Merges the rule entities `rules` (text order, not overlapping) into the model's entities out->items[from..]
   (text order), into one list in text order without overlaps. Where the two overlap:
   - a model entity that holds the rule entity whole and more wins and the rule entity is dropped: the model
     read the context, and "Mai 68" tagged as an event, "rue du 4 Septembre" as a place, "Tour de France
     2024" as an event are names that contain a date; unless the more is only prepositions and articles
     ("en 2015" as a place, "du XVIe siècle" as an organisation: a date with its preposition, mistaken);
     `text` (the text the spans index; NULL: no such exception) tells;
   - otherwise the rule entity wins and the model entities it overlaps are dropped: a model that tags "1996"
     in "le 29 février 1996", or "1998" alone, as a place, or "15 mars" as an organisation, is wrong there.
   On failure (no memory) out is left as it was. */
/* The types of the rule entities, NULL-terminated: "DATE", "TIME", "MONEY", "PERCENT". */
extern const char *const sl_rule_types[];

sl_status sl_dates_merge(sl_entities *out, size_t from, const sl_entities *rules, const char *text,
                         sl_error *err);

#endif
