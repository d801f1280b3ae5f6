/**
 * Default data for the sandbox: a small but realistic Chinese corp ("HireLedger 演示科技") with the people
 * HireLedger's flows need — recruiters, hiring managers, an HRBP, legal, an admin — plus candidates as
 * external contacts, one 微信客服 account, one offer-approval template and a little history.
 *
 * Everything here is plain data so a test can pass its own `SandboxSeed` (or tweak a copy of this one).
 * Times in the seed are relative ("N seconds ago") so that the 3-day KF window and the 31-day approval
 * query window always contain the seeded history.
 */

export interface LangText {
  text: string;
  lang: 'zh_CN' | 'en';
}

export interface SeedDepartment {
  id: number;
  name: string;
  name_en: string;
  parentid: number;
  order: number;
  department_leader: string[];
}

export type MemberRole = 'admin' | 'recruiter' | 'hiring_manager' | 'hrbp' | 'legal' | 'employee';

export interface SeedMember {
  userid: string;
  name: string;
  role: MemberRole;
  department: number[];
  main_department: number;
  position: string;
  is_leader_in_dept: number[];
  direct_leader: string[];
  alias: string;
  /** 1 已激活, 2 已禁用, 4 未激活, 5 退出企业 (user/get `status`). */
  status: 1 | 2 | 4 | 5;
}

export interface SeedTag {
  tagid: number;
  tagname: string;
  userids: string[];
}

export interface SeedFollowUser {
  userid: string;
  remark: string;
  description: string;
  /** Seconds before "now" at which the member added the contact. */
  added_ago_seconds: number;
  tags: { group_name: string; tag_name: string; tag_id: string; type: 1 | 2 | 3 }[];
  remark_corp_name: string;
  remark_mobiles: string[];
  oper_userid: string;
  /** 0 未知 1 扫描二维码 2 搜索手机号 3 名片分享 ... 16 获客链接 (doc 92114). */
  add_way: number;
  state: string;
  /** false once the member deleted the customer (del_external_contact); externalcontact/get → 84061 if none left. */
  active: boolean;
  /** Absolute add time (unix seconds); filled in by SandboxState from added_ago_seconds when absent. */
  createtime?: number;
}

export interface SeedExternalContact {
  external_userid: string;
  /** What auth/getuserinfo returns as `openid` when this person opens the H5 via OAuth. */
  openid: string;
  name: string;
  /** 1 微信用户, 2 企业微信用户 */
  type: 1 | 2;
  /** 0 未知 1 男 2 女 */
  gender: 0 | 1 | 2;
  avatar: string;
  unionid: string;
  follow_user: SeedFollowUser[];
}

export interface SeedKfAccount {
  open_kfid: string;
  name: string;
  avatar: string;
  manage_privilege: boolean;
}

export interface TemplateControlProperty {
  control: 'Text' | 'Textarea' | 'Number' | 'Money' | 'Date' | 'Selector' | 'Contact' | 'File';
  id: string;
  title: LangText[];
  placeholder: LangText[];
  require: 0 | 1;
  un_print: 0 | 1;
}

export interface SelectorOption {
  key: string;
  value: LangText[];
}

export interface TemplateControlConfig {
  date?: { type: 'day' | 'hour' };
  selector?: { type: 'single' | 'multi'; exp_type: number; options: SelectorOption[] };
}

export interface TemplateControl {
  property: TemplateControlProperty;
  config?: TemplateControlConfig;
}

/** A node of an approval flow in the `process.node_list` format of oa/applyevent. */
export interface ProcessNodeInput {
  /** 1 审批人 2 抄送人 3 办理人 */
  type: 1 | 2 | 3;
  /** 1 会签 2 或签 3 依次审批 (required for types 1 and 3) */
  apv_rel?: 1 | 2 | 3;
  userid: string[];
}

export interface SeedTemplate {
  template_id: string;
  template_names: LangText[];
  controls: TemplateControl[];
  /** The flow the admin configured in the 审批 app; used when applyevent has use_template_approver = 1. */
  default_process: ProcessNodeInput[];
}

export interface SeedMedia {
  media_id: string;
  filename: string;
  content_type: string;
  /** File bytes, base64. */
  base64: string;
}

/** apply_data.contents[] item as sent to oa/applyevent. */
export interface ApplyContentInput {
  control: string;
  id: string;
  value: Record<string, unknown>;
}

export interface SeedApproval {
  creator_userid: string;
  template_id: string;
  applied_ago_seconds: number;
  contents: ApplyContentInput[];
  /** Replayed after creation (without firing callbacks). */
  actions: { userid: string; action: 'approve' | 'reject'; speech: string; after_seconds: number }[];
}

export type SeedKfEntry =
  | { kind: 'text'; open_kfid: string; external_userid: string; content: string; ago_seconds: number }
  | { kind: 'enter_session'; open_kfid: string; external_userid: string; scene_param: string; ago_seconds: number };

/** A group that already exists in the corp (e.g. made by another self-built app through appchat/create). */
export interface SeedAppchat {
  chatid: string;
  name: string;
  owner: string;
  userlist: string[];
  /** AgentID of the app that created it: anything but the sandbox's own AgentID → 86008 for this app. */
  created_by_agentid: number;
}

/** A group robot (群机器人). Its webhook URL is `/cgi-bin/webhook/send?key=<key>`; the key is a secret. */
export interface SeedRobot {
  key: string;
  name: string;
  /** The group the robot sits in. */
  chat_name: string;
}

export interface SandboxSeed {
  corpName: string;
  departments: SeedDepartment[];
  members: SeedMember[];
  tags: SeedTag[];
  /** The app's 可见范围: these departments (and their sub-departments) plus these users. */
  visibleScope: { departments: number[]; users: string[] };
  externalContacts: SeedExternalContact[];
  kfAccounts: SeedKfAccount[];
  templates: SeedTemplate[];
  media: SeedMedia[];
  approvals: SeedApproval[];
  kfMessages: SeedKfEntry[];
  /** Groups that exist before the app creates any (optional, so older custom seeds still fit). */
  appchats?: SeedAppchat[];
  /** Group robots whose webhooks accept messages. */
  robots?: SeedRobot[];
  /** appchat/* answer 60011 unless the visible scope contains the root department, as WeCom does. Default false. */
  appchatRequiresRootScope?: boolean;
}

export const DEMO_CORP_ID = 'wwhireledgerdemo01';
export const DEMO_AGENT_ID = 1000002;
export const OFFER_TEMPLATE_ID = '3TkZHireLedgerOfferTemplate01';
export const KF_OPEN_KFID = 'wkHireLedger01';
/** The seeded 群机器人 in the 存证检查点 group (a UUID like WeCom's keys; a secret in real life). */
export const DEMO_ROBOT_KEY = '6f1d2c3b-8a4e-4b7f-9c0d-1e2f3a4b5c6d';
/** A group another app (AgentID 1000003) created: this app may neither read nor post to it (86008). */
export const FOREIGN_APPCHAT_ID = 'wrHRNoticeGroupByOtherApp01';

/** Offer template control ids (realistic `<Control>-<13 digits>` form). */
export const OFFER_CONTROLS = {
  candidate: 'Text-1700000000001',
  position: 'Text-1700000000002',
  salary: 'Money-1700000000003',
  startDate: 'Date-1700000000004',
  level: 'Selector-1700000000005',
  remark: 'Textarea-1700000000006',
  /** 年度目标奖金 (Money, yuan; optional: an offer without a bonus leaves it empty). */
  bonus: 'Money-1700000000007',
  /** 试用期（月） (Number; optional, so forms made before it existed still pass). */
  probation: 'Number-1700000000008',
  /** 内容哈希 (Text; optional): the offer version's SHA-256 alone, beside the one in the remark. */
  contentHash: 'Text-1700000000009',
} as const;

/** The 职级 selector's option keys, P4–P9 (what WECOM_OFFER_CONTROLS.levels maps to for this template). */
export const OFFER_LEVEL_OPTIONS = {
  P4: 'option-1700000000101',
  P5: 'option-1700000000102',
  P6: 'option-1700000000103',
  P7: 'option-1700000000104',
  P8: 'option-1700000000105',
  P9: 'option-1700000000106',
} as const;

const zh = (text: string): LangText[] => [{ text, lang: 'zh_CN' }];
const avatar = (seed: string): string => `https://wework.qpic.cn/wwhead/sandbox_${seed}/0`;

/** A tiny but valid one-page PDF, so media/get returns something a viewer can open. */
const OFFER_PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
).toString('base64');
/** 1x1 transparent PNG. */
const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=';

/** apply_data.contents for the offer template (also used by the demo and tests to submit offers). */
export function offerContents(
  candidate: string,
  position: string,
  salary: string,
  startDayTs: number,
  levelKey: string = OFFER_LEVEL_OPTIONS.P5,
) {
  return [
    { control: 'Text', id: OFFER_CONTROLS.candidate, value: { text: candidate } },
    { control: 'Text', id: OFFER_CONTROLS.position, value: { text: position } },
    { control: 'Money', id: OFFER_CONTROLS.salary, value: { new_money: salary } },
    { control: 'Date', id: OFFER_CONTROLS.startDate, value: { date: { type: 'day', s_timestamp: String(startDayTs) } } },
    { control: 'Selector', id: OFFER_CONTROLS.level, value: { selector: { type: 'single', options: [{ key: levelKey }] } } },
  ];
}

export function defaultSeed(): SandboxSeed {
  return {
    corpName: 'HireLedger演示科技有限公司',
    departments: [
      { id: 1, name: '总部', name_en: 'HQ', parentid: 0, order: 100000000, department_leader: ['liuyang'] },
      { id: 2, name: '招聘部', name_en: 'Recruiting', parentid: 1, order: 99999000, department_leader: ['chenjing'] },
      { id: 3, name: '研发部', name_en: 'R&D', parentid: 1, order: 99998000, department_leader: ['liqiang'] },
      { id: 4, name: '法务部', name_en: 'Legal', parentid: 1, order: 99997000, department_leader: ['zhaolei'] },
      { id: 5, name: '财务部', name_en: 'Finance', parentid: 1, order: 99996000, department_leader: ['zhouxin'] },
    ],
    members: [
      {
        userid: 'liuyang',
        name: '刘洋',
        role: 'admin',
        department: [1],
        main_department: 1,
        position: '企业管理员',
        is_leader_in_dept: [1],
        direct_leader: [],
        alias: 'Yang Liu',
        status: 1,
      },
      {
        userid: 'zhangmin',
        name: '张敏',
        role: 'recruiter',
        department: [2],
        main_department: 2,
        position: '招聘专员',
        is_leader_in_dept: [0],
        direct_leader: ['chenjing'],
        alias: 'Min Zhang',
        status: 1,
      },
      {
        userid: 'chenjing',
        name: '陈静',
        role: 'recruiter',
        department: [2],
        main_department: 2,
        position: '招聘经理',
        is_leader_in_dept: [1],
        direct_leader: ['liuyang'],
        alias: 'Jing Chen',
        status: 1,
      },
      {
        userid: 'wangfang',
        name: '王芳',
        role: 'hrbp',
        department: [2, 3],
        main_department: 2,
        position: 'HRBP',
        is_leader_in_dept: [0, 0],
        direct_leader: ['chenjing'],
        alias: 'Fang Wang',
        status: 1,
      },
      {
        userid: 'liqiang',
        name: '李强',
        role: 'hiring_manager',
        department: [3],
        main_department: 3,
        position: '研发总监',
        is_leader_in_dept: [1],
        direct_leader: ['liuyang'],
        alias: 'Qiang Li',
        status: 1,
      },
      {
        userid: 'sunwei',
        name: '孙伟',
        role: 'hiring_manager',
        department: [3],
        main_department: 3,
        position: '前端技术负责人',
        is_leader_in_dept: [0],
        direct_leader: ['liqiang'],
        alias: 'Wei Sun',
        status: 1,
      },
      {
        userid: 'zhaolei',
        name: '赵磊',
        role: 'legal',
        department: [4],
        main_department: 4,
        position: '法务经理',
        is_leader_in_dept: [1],
        direct_leader: ['liuyang'],
        alias: 'Lei Zhao',
        status: 1,
      },
      // Outside the app's visible scope (财务部 is not in visibleScope): message/send lists them in
      // invaliduser, user/get answers 60111, applyevent with them as creator answers 301055.
      {
        userid: 'zhouxin',
        name: '周欣',
        role: 'employee',
        department: [5],
        main_department: 5,
        position: '财务经理',
        is_leader_in_dept: [1],
        direct_leader: ['liuyang'],
        alias: 'Xin Zhou',
        status: 1,
      },
    ],
    tags: [
      { tagid: 1, tagname: '招聘官', userids: ['zhangmin', 'chenjing'] },
      { tagid: 2, tagname: '面试官', userids: ['liqiang', 'sunwei'] },
    ],
    visibleScope: { departments: [2, 3, 4], users: ['liuyang'] },
    externalContacts: [
      {
        external_userid: 'wmCandChenChen0001',
        openid: 'oCandChenChen0001',
        name: '陈晨',
        type: 1,
        gender: 2,
        avatar: avatar('chenchen'),
        unionid: 'ozynqsulJFCZ2z1aYeS8h-nuasdAAA',
        follow_user: [
          {
            userid: 'zhangmin',
            remark: '陈晨-前端工程师',
            description: '3年React经验，期望月薪25k',
            added_ago_seconds: 6 * 86400,
            tags: [{ group_name: '候选人阶段', tag_name: '终面通过', tag_id: 'etCandStageFinal01', type: 1 }],
            remark_corp_name: '',
            remark_mobiles: ['13800000001'],
            oper_userid: 'zhangmin',
            add_way: 1,
            state: 'job_fe_2026',
            active: true,
          },
        ],
      },
      {
        external_userid: 'wmCandLinXiao0002',
        openid: 'oCandLinXiao0002',
        name: '林晓',
        type: 1,
        gender: 1,
        avatar: avatar('linxiao'),
        unionid: 'ozynqsulJFCZ2z1aYeS8h-nuasdBBB',
        follow_user: [
          {
            userid: 'zhangmin',
            remark: '林晓-后端',
            description: 'Go/Java，在职看机会',
            added_ago_seconds: 4 * 86400,
            tags: [{ group_name: '候选人阶段', tag_name: '一面', tag_id: 'etCandStageFirst01', type: 1 }],
            remark_corp_name: '',
            remark_mobiles: [],
            oper_userid: 'zhangmin',
            add_way: 16,
            state: 'job_be_2026',
            active: true,
          },
          {
            userid: 'liqiang',
            remark: '林晓',
            description: '',
            added_ago_seconds: 2 * 86400,
            tags: [],
            remark_corp_name: '',
            remark_mobiles: [],
            oper_userid: 'liqiang',
            add_way: 3,
            state: '',
            active: true,
          },
        ],
      },
      {
        external_userid: 'wmCandWuHao0003',
        openid: 'oCandWuHao0003',
        name: '吴昊',
        type: 1,
        gender: 1,
        avatar: avatar('wuhao'),
        unionid: 'ozynqsulJFCZ2z1aYeS8h-nuasdCCC',
        follow_user: [
          {
            userid: 'chenjing',
            remark: '吴昊-产品经理',
            description: '',
            added_ago_seconds: 86400,
            tags: [],
            remark_corp_name: '',
            remark_mobiles: [],
            oper_userid: 'chenjing',
            add_way: 1,
            state: 'job_pm_2026',
            active: true,
          },
        ],
      },
      {
        // The recruiter deleted this candidate: externalcontact/get answers 84061.
        external_userid: 'wmCandZhengXue0004',
        openid: 'oCandZhengXue0004',
        name: '郑雪',
        type: 1,
        gender: 2,
        avatar: avatar('zhengxue'),
        unionid: 'ozynqsulJFCZ2z1aYeS8h-nuasdDDD',
        follow_user: [
          {
            userid: 'zhangmin',
            remark: '郑雪',
            description: '已婉拒',
            added_ago_seconds: 20 * 86400,
            tags: [],
            remark_corp_name: '',
            remark_mobiles: [],
            oper_userid: 'zhangmin',
            add_way: 1,
            state: '',
            active: false,
          },
        ],
      },
    ],
    kfAccounts: [{ open_kfid: KF_OPEN_KFID, name: '招聘客服', avatar: avatar('kf'), manage_privilege: true }],
    templates: [
      {
        template_id: OFFER_TEMPLATE_ID,
        template_names: zh('录用审批'),
        controls: [
          {
            property: {
              control: 'Text',
              id: OFFER_CONTROLS.candidate,
              title: zh('候选人'),
              placeholder: zh('请输入候选人姓名'),
              require: 1,
              un_print: 0,
            },
          },
          {
            property: {
              control: 'Text',
              id: OFFER_CONTROLS.position,
              title: zh('岗位'),
              placeholder: zh('请输入岗位名称'),
              require: 1,
              un_print: 0,
            },
          },
          {
            property: {
              control: 'Money',
              id: OFFER_CONTROLS.salary,
              title: zh('月薪'),
              placeholder: zh('请输入税前月薪（元）'),
              require: 1,
              un_print: 0,
            },
          },
          {
            property: {
              control: 'Date',
              id: OFFER_CONTROLS.startDate,
              title: zh('入职日期'),
              placeholder: zh('请选择'),
              require: 1,
              un_print: 0,
            },
            config: { date: { type: 'day' } },
          },
          {
            property: {
              control: 'Selector',
              id: OFFER_CONTROLS.level,
              title: zh('职级'),
              placeholder: zh('请选择'),
              require: 1,
              un_print: 0,
            },
            config: {
              selector: {
                type: 'single',
                exp_type: 0,
                options: Object.entries(OFFER_LEVEL_OPTIONS).map(([level, key]) => ({ key, value: zh(level) })),
              },
            },
          },
          {
            property: {
              control: 'Textarea',
              id: OFFER_CONTROLS.remark,
              title: zh('备注'),
              placeholder: zh('其他说明'),
              require: 0,
              un_print: 0,
            },
          },
          {
            property: {
              control: 'Money',
              id: OFFER_CONTROLS.bonus,
              title: zh('年度目标奖金'),
              placeholder: zh('税前，元；无奖金不填'),
              require: 0,
              un_print: 0,
            },
          },
          {
            property: {
              control: 'Number',
              id: OFFER_CONTROLS.probation,
              title: zh('试用期（月）'),
              placeholder: zh('0–6'),
              require: 0,
              un_print: 0,
            },
          },
          {
            property: {
              control: 'Text',
              id: OFFER_CONTROLS.contentHash,
              title: zh('内容哈希'),
              placeholder: zh('SHA-256，由系统填写'),
              require: 0,
              un_print: 0,
            },
          },
        ],
        default_process: [
          { type: 1, apv_rel: 2, userid: ['liqiang'] },
          { type: 1, apv_rel: 2, userid: ['wangfang'] },
          { type: 2, userid: ['zhaolei'] },
        ],
      },
    ],
    media: [
      {
        media_id: '1HLOfferLetterChenChen_pdf_0001',
        filename: 'offer-陈晨.pdf',
        content_type: 'application/pdf',
        base64: OFFER_PDF,
      },
      { media_id: '2HLCandidatePhotoLinXiao_png_0002', filename: 'linxiao.png', content_type: 'image/png', base64: TINY_PNG },
    ],
    approvals: [
      {
        creator_userid: 'zhangmin',
        template_id: OFFER_TEMPLATE_ID,
        applied_ago_seconds: 3 * 86400,
        contents: offerContents('吴昊', '高级产品经理', '32000', 1767196800, OFFER_LEVEL_OPTIONS.P6),
        actions: [
          { userid: 'liqiang', action: 'approve', speech: '同意，尽快发offer', after_seconds: 3600 },
          { userid: 'wangfang', action: 'approve', speech: '薪资在预算内', after_seconds: 7200 },
        ],
      },
      {
        creator_userid: 'zhangmin',
        template_id: OFFER_TEMPLATE_ID,
        applied_ago_seconds: 2 * 3600,
        contents: offerContents('林晓', '后端开发工程师', '28000', 1768406400, OFFER_LEVEL_OPTIONS.P5),
        actions: [],
      },
    ],
    kfMessages: [
      {
        kind: 'enter_session',
        open_kfid: KF_OPEN_KFID,
        external_userid: 'wmCandChenChen0001',
        scene_param: 'job_fe_2026',
        ago_seconds: 3 * 3600,
      },
      {
        kind: 'text',
        open_kfid: KF_OPEN_KFID,
        external_userid: 'wmCandChenChen0001',
        content: '您好，我想了解一下前端岗位的面试安排',
        ago_seconds: 3 * 3600 - 5,
      },
    ],
    appchats: [
      {
        chatid: FOREIGN_APPCHAT_ID,
        name: 'HR 通知群（行政应用创建）',
        owner: 'wangfang',
        userlist: ['wangfang', 'zhangmin', 'chenjing'],
        created_by_agentid: 1000003,
      },
    ],
    robots: [{ key: DEMO_ROBOT_KEY, name: 'HireLedger 存证机器人', chat_name: '存证检查点' }],
  };
}
