import { PermanentJobError } from '../platform/errors';

/**
 * What the onboarding module refuses: each with an HTTP status for the route that will call it, a
 * stable code, and a Chinese message for the person who asked. Nothing is written when one is
 * thrown (the decision's transaction rolls back).
 */
export class OnboardingError extends PermanentJobError {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OnboardingError';
  }
}

/** Invalid input: an empty material or member, one the position does not require. 400. */
export const onboardingInput = (code: string, message: string) => new OnboardingError(400, code, message);

/** No such offer in this corp. 404. */
export const offerNotFound = () => new OnboardingError(404, 'offer_not_found', '找不到该 offer / offer not found');

/** The offer is not (or no longer) accepted: nothing to collect for it. 409, with its state. */
export const offerNotAccepted = (state: string) =>
  new OnboardingError(409, 'offer_not_accepted', `offer 当前状态为 ${state}，不在待入职阶段 / offer is ${state}, not accepted`);
