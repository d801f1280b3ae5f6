/**
 * The route to a candidate (DECISIONS 12): `message/send` reaches members only, so a reminder "to
 * the candidate" goes by 微信客服 (kf/send_msg) while its window is open, else as a 企业群发 the
 * recruiter confirms (externalcontact/add_msg_template), else as a task for the recruiter with the
 * text ready. The choice is a pure function of what is open; which route was chosen and which was
 * used are both recorded with the reminder's outcome.
 *
 * With a `candidateChannel` (candidate-channel.ts) the chosen route is used, and a route WeCom
 * refuses gives way to the next one; without it, the choice is recorded and the task goes to the
 * recruiter (route_used: recruiter_task).
 */

export type CandidateRoute = 'kf' | 'group_send' | 'recruiter_task';

/** What is open towards one candidate at one moment. */
export interface RouteFacts {
  /** The candidate's last KF message, or null: KF may answer only within 48 h of it. */
  lastKfMessageAt: Date | null;
  /** Messages the app sent by KF since that message (at most 5 per candidate message). */
  kfSentSinceLast: number;
  /** Whether the KF session is in a state WeCom lets the app send in. */
  kfSessionOpen: boolean;
  /** Whether the candidate is the external contact of a recruiter (a 1:1 chat the recruiter can confirm a 群发 in). */
  hasRecruiterContact: boolean;
}

export const KF_WINDOW_MS = 48 * 3600_000;
export const KF_MESSAGES_PER_CANDIDATE_MESSAGE = 5;

export function chooseRoute(f: RouteFacts, at: Date): { route: CandidateRoute; why: string } {
  if (
    f.kfSessionOpen &&
    f.lastKfMessageAt !== null &&
    at.getTime() - f.lastKfMessageAt.getTime() < KF_WINDOW_MS &&
    f.kfSentSinceLast < KF_MESSAGES_PER_CANDIDATE_MESSAGE
  ) {
    return { route: 'kf', why: '微信客服会话窗口内' };
  }
  if (f.hasRecruiterContact) return { route: 'group_send', why: '候选人是招聘专员的客户联系人，需专员确认群发' };
  return { route: 'recruiter_task', why: '没有可用的候选人渠道，转为招聘专员待办' };
}

/** Chooses the route to a candidate at a moment. */
export interface CandidateRoutes {
  choose(args: { corpId: string; candidateId: string; at: Date }): Promise<{ route: CandidateRoute; why: string }>;
}

/** Until the KF window and contact facts are wired: every candidate reminder is a task for the recruiter. */
export const recruiterTaskOnly: CandidateRoutes = {
  choose: () => Promise.resolve({ route: 'recruiter_task', why: '候选人渠道尚未接入，转为招聘专员待办' }),
};

/** Routes from a source of facts (the conversations module's KF state, the external-contact list). */
export function routesFromFacts(facts: (corpId: string, candidateId: string) => Promise<RouteFacts>): CandidateRoutes {
  return {
    async choose({ corpId, candidateId, at }) {
      return chooseRoute(await facts(corpId, candidateId), at);
    },
  };
}
