import { z } from 'zod';
import { SIGNAL_TYPES, type SignalRule } from './classifier';

/**
 * Unsaved rule changes (a JSON file HR writes to try a lexicon change before saving it, e.g. with
 * `npm run signals:classify -- --rules file.json`): a JSON array of rules, or `{"rules": [...]}`,
 * each with at least `id`. A known id takes the fields given; a new id needs `type` too.
 */

const GuardsPatch = z
  .object({
    negation: z.boolean().optional(),
    question: z.boolean().optional(),
    advice: z.boolean().optional(),
    thirdParty: z.boolean().optional(),
  })
  .strict();

const RulePatchSchema = z
  .object({
    id: z.string(),
    type: z.enum(SIGNAL_TYPES as [SignalRule['type'], ...SignalRule['type'][]]).optional(),
    description: z.string().optional(),
    terms: z.array(z.string()).optional(),
    patterns: z.array(z.string()).optional(),
    guards: GuardsPatch.optional(),
    enabled: z.boolean().optional(),
  })
  .strict();

const RuleFileSchema = z.union([z.array(RulePatchSchema), z.object({ rules: z.array(RulePatchSchema) }).strict()]);

export type RulePatch = z.infer<typeof RulePatchSchema>;

export function parseRuleFile(json: string): RulePatch[] {
  const parsed = RuleFileSchema.parse(JSON.parse(json));
  return Array.isArray(parsed) ? parsed : parsed.rules;
}

/**
 * The rules with the patches laid over them, by id. A changed or new rule shows the version saving
 * it would give (one more than the saved one), so its hits read as what saving would produce.
 */
export function overlayRules(base: readonly SignalRule[], patches: readonly RulePatch[]): SignalRule[] {
  const out = new Map(base.map((r) => [r.id, r]));
  for (const p of patches) {
    const prior = out.get(p.id);
    const type = p.type ?? prior?.type;
    if (!type) throw new Error(`rule ${p.id} is new: it needs a "type"`);
    if (prior && type !== prior.type) throw new Error(`rule ${p.id}: a rule keeps its type`);
    out.set(p.id, {
      id: p.id,
      type,
      version: (prior?.version ?? 0) + 1,
      description: p.description ?? prior?.description ?? '',
      terms: p.terms ?? prior?.terms ?? [],
      patterns: p.patterns ?? prior?.patterns ?? [],
      guards: { ...(prior?.guards ?? { negation: true, question: true, advice: true, thirdParty: false }), ...p.guards },
      enabled: p.enabled ?? prior?.enabled ?? true,
    });
  }
  return [...out.values()];
}
