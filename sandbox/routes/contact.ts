/**
 * Directory and customer-contact reads: user/get (doc 90196) and externalcontact/get (doc 92114).
 * Both only show what is inside the app's visible scope, like WeCom.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { SandboxContext } from '../actions';
import { OK, WecomApiError } from '../errors';
import type { ContactWay } from '../state';
import { bodyOf, optInt, optString, queryOf } from './common';

export function registerContactRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;

  app.get('/cgi-bin/user/get', async (req) => {
    const { userid } = queryOf(req);
    if (!userid) throw new WecomApiError(41009);
    const m = state.member(userid);
    if (!m || !state.memberInScope(m.userid)) throw new WecomApiError(60111);
    // Since 2022-06-20 new self-built apps get no avatar/gender/mobile/email/biz_mail/address here.
    return {
      ...OK,
      userid: m.userid.toLowerCase(),
      name: m.name,
      department: m.department,
      order: m.department.map(() => 0),
      position: m.position,
      status: m.status,
      isleader: m.is_leader_in_dept.some((x) => x === 1) ? 1 : 0,
      is_leader_in_dept: m.is_leader_in_dept,
      direct_leader: m.direct_leader,
      telephone: '',
      alias: m.alias,
      extattr: { attrs: [] },
      main_department: m.main_department,
      open_userid: `woHL${Buffer.from(m.userid).toString('hex')}`,
      external_position: m.position,
      external_profile: { external_corp_name: state.corpName, wechat_channels: { nickname: '', status: 0 }, external_attr: [] },
    };
  });

  app.get('/cgi-bin/externalcontact/get', async (req) => {
    const { external_userid } = queryOf(req);
    if (!external_userid) throw new WecomApiError(41035);
    const c = state.externalContacts.get(external_userid);
    if (!c) throw new WecomApiError(40096);
    const followers = c.follow_user.filter((f) => f.active && state.memberInScope(f.userid));
    // The member deleted the customer (or no follower is visible): no relationship left.
    if (followers.length === 0) throw new WecomApiError(84061);
    return {
      ...OK,
      external_contact: {
        external_userid: c.external_userid,
        name: c.name,
        type: c.type,
        avatar: c.avatar,
        gender: c.gender,
        ...(c.unionid ? { unionid: c.unionid } : {}),
      },
      follow_user: followers.map((f) => ({
        userid: f.userid,
        remark: f.remark,
        description: f.description,
        createtime: f.createtime ?? 0,
        tags: f.tags,
        remark_corp_name: f.remark_corp_name,
        remark_mobiles: f.remark_mobiles,
        oper_userid: f.oper_userid,
        add_way: f.add_way,
        ...(f.state ? { state: f.state } : {}),
      })),
    };
  });

  // 联系我 (doc 92228). A contact way's `state` (at most 30 characters) comes back as State in the
  // change_external_contact callback of every add through it (admin: POST
  // /sandbox/admin/external-contact/add-via-contact-way).
  app.post('/cgi-bin/externalcontact/add_contact_way', async (req) => {
    const body = bodyOf(req);
    const type = optInt(body, 'type');
    const scene = optInt(body, 'scene');
    if ((type !== 1 && type !== 2) || (scene !== 1 && scene !== 2)) throw new WecomApiError(40058);
    const stateTag = optString(body, 'state') ?? '';
    if (stateTag.length > 30) throw new WecomApiError(40058);
    const users = Array.isArray(body['user']) ? body['user'].filter((u): u is string => typeof u === 'string') : [];
    if (users.length === 0 || (type === 1 && users.length !== 1)) throw new WecomApiError(40058);
    for (const u of users) {
      const m = state.member(u);
      if (!m || !state.memberInScope(m.userid)) throw new WecomApiError(60111);
    }
    const config_id = randomBytes(16).toString('hex');
    const way: ContactWay = {
      config_id,
      type,
      scene,
      remark: optString(body, 'remark') ?? '',
      skip_verify: body['skip_verify'] !== false,
      state: stateTag,
      user: users.map((u) => state.member(u)?.userid ?? u),
      qr_code: scene === 2 ? `https://wework.qpic.cn/wwpic/sandbox_${config_id}/0` : '',
    };
    state.contactWays.set(config_id, way);
    return { ...OK, config_id, ...(way.qr_code ? { qr_code: way.qr_code } : {}) };
  });

  app.post('/cgi-bin/externalcontact/get_contact_way', async (req) => {
    const config_id = optString(bodyOf(req), 'config_id');
    if (!config_id) throw new WecomApiError(40058, 'config_id is required');
    const way = state.contactWays.get(config_id);
    if (!way) throw new WecomApiError(40058);
    return { ...OK, contact_way: { ...way, party: [], is_temp: false } };
  });
}
