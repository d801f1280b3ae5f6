import { ROLE_OF_TYPE, SIGNAL_TYPES, type Classifier, type SignalRole } from './classifier';
import type { SignalType } from './names';

/**
 * Precision and recall of a classifier on a labelled set (test/fixtures/signals/*.jsonl): one
 * example per message, `labels` the types a person would flag in it.
 */

export interface LabelledMessage {
  role: SignalRole;
  text: string;
  labels: SignalType[];
}

export interface TypeScore {
  type: SignalType;
  /** Messages of the type's role in the set, messages labelled with it, and the classifier's true and false positives. */
  examples: number;
  labelled: number;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** 1 when nothing was flagged (no false positive); recall 1 when nothing was labelled. */
  precision: number;
  recall: number;
}

export interface Mistake {
  role: SignalRole;
  text: string;
  type: SignalType;
  /** `missed`: labelled, not found; `extra`: found, not labelled (with the rule that found it). */
  kind: 'missed' | 'extra';
  rule?: string;
  match?: string;
}

/** Reads JSON Lines of `{role, text, labels}`, refusing a line that is not one. */
export function parseLabelled(jsonl: string, name = 'labelled set'): LabelledMessage[] {
  const out: LabelledMessage[] = [];
  for (const [i, line] of jsonl.split('\n').entries()) {
    if (line.trim() === '') continue;
    const v = JSON.parse(line) as { role?: unknown; text?: unknown; labels?: unknown };
    const where = `${name} line ${i + 1}`;
    if (v.role !== 'candidate' && v.role !== 'recruiter') throw new Error(`${where}: role must be candidate or recruiter`);
    if (typeof v.text !== 'string' || v.text === '') throw new Error(`${where}: text must be a non-empty string`);
    if (!Array.isArray(v.labels)) throw new Error(`${where}: labels must be an array`);
    const labels: SignalType[] = [];
    for (const l of v.labels as unknown[]) {
      if (!SIGNAL_TYPES.includes(l as SignalType)) throw new Error(`${where}: unknown label ${String(l)}`);
      if (ROLE_OF_TYPE[l as SignalType] !== v.role) throw new Error(`${where}: ${String(l)} is not a ${v.role} signal`);
      labels.push(l as SignalType);
    }
    out.push({ role: v.role, text: v.text, labels });
  }
  return out;
}

export function evaluate(classifier: Classifier, set: readonly LabelledMessage[]): { scores: TypeScore[]; mistakes: Mistake[] } {
  const counts = new Map<SignalType, { examples: number; labelled: number; tp: number; fp: number; fn: number }>(
    SIGNAL_TYPES.map((t) => [t, { examples: 0, labelled: 0, tp: 0, fp: 0, fn: 0 }]),
  );
  const mistakes: Mistake[] = [];
  for (const m of set) {
    const hits = classifier.classify(m.role, m.text);
    for (const type of SIGNAL_TYPES) {
      if (ROLE_OF_TYPE[type] !== m.role) continue;
      const c = counts.get(type);
      if (!c) continue;
      c.examples++;
      const labelled = m.labels.includes(type);
      const hit = hits.find((h) => h.type === type);
      if (labelled) c.labelled++;
      if (labelled && hit) c.tp++;
      else if (labelled) {
        c.fn++;
        mistakes.push({ role: m.role, text: m.text, type, kind: 'missed' });
      } else if (hit) {
        c.fp++;
        mistakes.push({ role: m.role, text: m.text, type, kind: 'extra', rule: hit.rule, match: hit.match.text });
      }
    }
  }
  const scores = SIGNAL_TYPES.map((type): TypeScore => {
    const c = counts.get(type) ?? { examples: 0, labelled: 0, tp: 0, fp: 0, fn: 0 };
    return {
      type,
      examples: c.examples,
      labelled: c.labelled,
      truePositives: c.tp,
      falsePositives: c.fp,
      falseNegatives: c.fn,
      precision: c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp),
      recall: c.labelled === 0 ? 1 : c.tp / c.labelled,
    };
  });
  return { scores, mistakes };
}
