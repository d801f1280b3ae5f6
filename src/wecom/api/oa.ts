import type { WecomHttp } from './http';
import type {
  ApplyEventRequest,
  ApplyEventResponse,
  GetApprovalDetailResponse,
  GetApprovalInfoRequest,
  GetApprovalInfoResponse,
  GetTemplateDetailResponse,
} from './types';

/**
 * 审批 (docs 91982, 91853, 91983, 91816). Reads are idempotent and retried on network failures;
 * applyevent is not: a retry after a timeout could file the offer approval twice, so such a failure
 * surfaces as WecomNetworkError(maybeSent) and the caller reconciles with getapprovalinfo.
 */
export interface OaApi {
  getTemplateDetail(templateId: string): Promise<GetTemplateDetailResponse>;
  applyEvent(req: ApplyEventRequest): Promise<ApplyEventResponse>;
  getApprovalDetail(spNo: string): Promise<GetApprovalDetailResponse>;
  getApprovalInfo(req: GetApprovalInfoRequest): Promise<GetApprovalInfoResponse>;
}

export function createOaApi(http: WecomHttp): OaApi {
  return {
    getTemplateDetail: (templateId) =>
      http.json<GetTemplateDetailResponse>({
        method: 'POST',
        path: 'oa/gettemplatedetail',
        body: { template_id: templateId },
        idempotent: true,
      }),
    async applyEvent(req) {
      const res = await http.json<ApplyEventResponse>({ method: 'POST', path: 'oa/applyevent', body: req, idempotent: false });
      // sp_no is a 12-digit number-like id; keep it a string whatever WeCom sends.
      return { ...res, sp_no: String(res.sp_no) };
    },
    getApprovalDetail: (spNo) =>
      http.json<GetApprovalDetailResponse>({
        method: 'POST',
        path: 'oa/getapprovaldetail',
        body: { sp_no: spNo },
        idempotent: true,
      }),
    async getApprovalInfo(req) {
      const body = { ...req, starttime: String(req.starttime), endtime: String(req.endtime) };
      const res = await http.json<GetApprovalInfoResponse>({
        method: 'POST',
        path: 'oa/getapprovalinfo',
        body,
        idempotent: true,
      });
      return { ...res, sp_no_list: (res.sp_no_list ?? []).map(String) };
    },
  };
}
