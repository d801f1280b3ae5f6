import type { RuleGuards, SignalRule } from './classifier';

/**
 * The rules HireLedger ships (docs/signals.md explains each: what it catches, what it deliberately
 * does not). A corp's database starts with these at version 1 (store.ts `ensureDefaultRules`); an
 * admin edits them there, and the database bumps the version. Patterns run on folded text
 * (normalize.ts): simplified characters, lower-case ASCII, half-width punctuation.
 *
 * Gaps inside a pattern never cross a clause (`[^,.!?;。]`), and in recruiter rules never cross a
 * negator either (`[^,.!?;。没不别未]`), so "先别辞职" is not "先…辞职".
 */

/** A gap within one clause. */
const G = '[^,.!?;。\\n]';
/** A gap within one clause that holds no negator. */
const P = '[^,.!?;。\\n没不别未]';

const CANDIDATE_HESITATION: RuleGuards = { negation: true, question: false, advice: false, thirdParty: false };
const CANDIDATE_FACT: RuleGuards = { negation: true, question: true, advice: true, thirdParty: true };
const RECRUITER_PROMISE: RuleGuards = { negation: true, question: true, advice: true, thirdParty: false };

const FAMILY = '家人|家里人?|老婆|老公|爱人|媳妇|女朋友|男朋友|对象|爸妈|父母|爸爸|妈妈|家属|另一半|家里那位';
const PAY = '薪资|薪水|工资|待遇|薪酬|base|package|期权|股票|股份|年终|年薪|月薪|奖金|涨幅|offer|这个数|这个价|数字|钱';
const OTHER_COMPANY =
  '其他|其它|另外|另一|别的|别家|几家|两家|那家|之前那家|字节|阿里|腾讯|华为|美团|百度|京东|拼多多|小米|网易|快手|滴滴|蚂蚁|大厂|外企|国企';
const RESIGN_NOUN = '离职|辞职|辞呈|辞职信|离职申请|辞职报告|离职报告|辞职邮件|辞职申请|resign';

export const DEFAULT_RULES: readonly SignalRule[] = [
  // ------------------------------------------------------------ hesitation (candidate)
  {
    id: 'hes.reconsider',
    type: 'hesitation',
    version: 1,
    description: '候选人表示还要再考虑、再想想（"我再考虑一下"、"容我三思"、"给我几天时间考虑"）',
    terms: ['容我三思', '三思一下', '消化一下', '再权衡', '权衡一下', '想一想再', '想清楚再', '好好想想', '慎重考虑'],
    patterns: [
      '(?:再|还要|还得|还需要?|需要|让我|我想|我得|先|好好|认真)(?:考虑|想想|想一下|想一想|思考|斟酌|琢磨|权衡)',
      '(?:考虑|想想|斟酌|琢磨|思考)(?:一下|一哈|下|几天|两天|清楚|考虑)',
      'think\\s{0,3}(?:一下|下|about it|it over)|再think',
      '(?:几天|两天|三天|一周|一个星期|一些|点|一点|些)时间(?:考虑|想想|思考|决定)',
      '(?:在|正在|还在)?考虑(?:要不要|去不去|接不接|换不换|是否)',
      '我(?:还在|正在|仍在|还是在)(?:考虑|犹豫|纠结)',
      '(?:要|得|需要|还要|还得)(?:再)?商量(?:一下|下|商量)',
    ],
    guards: CANDIDATE_HESITATION,
    enabled: true,
  },
  {
    id: 'hes.undecided',
    type: 'hesitation',
    version: 1,
    description: '候选人表示犹豫、纠结、还没决定（"有点犹豫"、"拿不定主意"、"还没想好要不要换"）',
    terms: [
      '犹豫',
      '纠结',
      '拿不定主意',
      '拿不准',
      '举棋不定',
      '下不了决心',
      '没下定决心',
      '还没想好',
      '没想好',
      '还没决定',
      '没决定好',
      '有顾虑',
      '有些顾虑',
      '有点顾虑',
      '有点动摇',
      '观望一下',
      '等等看',
    ],
    patterns: [
      '不(?:确定|知道|清楚)(?:该不该|要不要|去不去|接不接|换不换|来不来)',
      '(?:先|暂时|暂且)(?:不|没法|无法)(?:决定|答复|回复|确定|接)',
      '(?:晚点|晚些|晚几天|过几天|过两天|缓几天|缓一缓|迟点)' + G + '{0,4}(?:答复|回复|回你|给你答复|给答复|决定)',
    ],
    guards: CANDIDATE_HESITATION,
    enabled: true,
  },
  {
    id: 'hes.pay',
    type: 'hesitation',
    version: 1,
    description: '候选人想再谈薪资待遇或对数字不满意（"薪资能否再谈"、"base能不能再往上提"、"有点低"）',
    terms: [],
    patterns: [
      `(?:${PAY})${G}{0,12}(?:再谈|再聊|再商量|谈谈|谈一谈|聊聊|商量|往上|提一提|提一下|高一点|高点|多给|多一点|加点|加一点|空间|调整|调高|上浮|再争取|不太满意|不是很满意|不满意|有点低|偏低|太低|低了|少了|差得|差一些|差了点|达不到|没达到|不够)`,
      `(?:能不能|可不可以|可以|能否|可否|有没有可能|还能|能再)${G}{0,6}(?:再谈|再聊|多给|加点|加一点|高一点|高点|再提|再涨|再加|提高|上调|往上)`,
      `预期${G}{0,6}(?:差|不符|有差距|有落差|不一样)`,
    ],
    guards: CANDIDATE_HESITATION,
    enabled: true,
  },
  {
    id: 'hes.family',
    type: 'hesitation',
    version: 1,
    description: '候选人要和家人商量，或家人不支持（"家里人还要商量"、"我老婆不太想让我去"）',
    terms: [],
    patterns: [
      `(?:${FAMILY})${G}{0,10}(?:商量|商议|讨论|沟通|不太想|不想让|不让|不太?支持|反对|不太?同意|还没同意|没同意|不太?愿意|有意见)`,
      `(?:等|要|还要|得|需要|看)${G}{0,8}(?:${FAMILY})${G}{0,6}(?:同意|点头|意见|态度)`,
    ],
    guards: CANDIDATE_HESITATION,
    enabled: true,
  },
  {
    id: 'hes.other_offers',
    type: 'hesitation',
    version: 1,
    description: '候选人在等或在比较其他 offer、现公司挽留（"还在等其他offer"、"手上有两个offer在比较"）',
    terms: ['骑驴找马', '再看看其他', '再看看别的', '看看其他机会', '看看别的机会', '还要再看看'],
    patterns: [
      `(?:在等|还在等|等等|等着|等一下|要等|得等)${G}{0,8}(?:${OTHER_COMPANY})${G}{0,8}(?:offer|结果|消息|通知|答复|回复|面试|流程|终面)`,
      `(?:手上|手里|手头)${G}{0,6}(?:offer|机会)`,
      `(?:两个|几个|多个|别的|其他|其它|另外)${G}{0,3}(?:offer|机会|公司)${G}{0,6}(?:比较|对比|考虑|看看|选|权衡)`,
      `(?:比较|对比|权衡)${G}{0,6}(?:offer|机会|公司)`,
      `(?:${OTHER_COMPANY})(?:那边|那里|家)?的?${G}{0,6}(?:offer|结果|终面|面试|流程)${G}{0,6}(?:还没|没出|未出|出来再|出来了再|等)`,
      'counter\\s{0,3}offer',
      `(?:加薪|涨薪|提薪|加钱)${G}{0,2}(?:留我|挽留)`,
      `(?:现在|目前|原|现)(?:的)?(?:公司|单位|老板|领导)${G}{0,8}(?:挽留|留我|加薪|涨薪|提薪|给我加)`,
    ],
    guards: CANDIDATE_HESITATION,
    enabled: true,
  },

  // ------------------------------------------------------------ resigned_before_offer (candidate)
  {
    id: 'res.already',
    type: 'resigned_before_offer',
    version: 1,
    description: '候选人说已经离职或辞职（"我已经提离职了"、"我这边已经辞职了"、"上周裸辞了"）',
    terms: [],
    patterns: [`(?:已经?|早就|都)${G}{0,8}(?:${RESIGN_NOUN}|裸辞|辞了|辞掉|离了|不干了)`, '(?:离职|辞职|裸辞)(?:了|啦|喽|咯)'],
    guards: CANDIDATE_FACT,
    enabled: true,
  },
  {
    id: 'res.submitted',
    type: 'resigned_before_offer',
    version: 1,
    description: '候选人说辞职信、离职申请已经交了或提了（"离职申请昨天交上去了"、"刚跟领导提了离职"）',
    terms: [],
    patterns: [
      `(?:${RESIGN_NOUN})${G}{0,8}(?:交|递|提|发|打|批)${G}{0,3}(?:了|完|过|上去)`,
      `(?:提|提出|递交|递|交|打|发)(?:了|过|完)${G}{0,6}(?:${RESIGN_NOUN})`,
      '(?:提完|办完|交完|递完|办好|走完)' + G + '{0,3}(?:离职|辞职)',
      `(?:离职|辞职)(?:手续|流程)${G}{0,8}(?:办完|办好|走完|在办|在走|下周|快)`,
      '(?:在|正在)(?:办|走)?(?:离职|交接)',
      `离职证明${G}{0,4}(?:拿到|开好|开了|到手|有了)`,
    ],
    guards: CANDIDATE_FACT,
    enabled: true,
  },
  {
    id: 'res.told_employer',
    type: 'resigned_before_offer',
    version: 1,
    description: '候选人说已经跟现雇主摊牌、说了不干了、定了最后工作日（"跟老板摊牌说要走了"、"last day是周五"）',
    terms: ['最后一个工作日', '最后一天上班'],
    patterns: [
      `(?:跟|和|向)${G}{0,8}(?:老板|领导|leader|经理|主管|公司|hr|总监)${G}{0,6}(?:摊牌|说了?要走|说了?不干|提了)`,
      '说了?不干了',
      'last\\s{0,3}day',
    ],
    guards: CANDIDATE_FACT,
    enabled: true,
  },

  // ------------------------------------------------------------ over_promise (recruiter)
  {
    id: 'ovp.hired',
    type: 'over_promise',
    version: 1,
    description: '招聘方在 offer 审批前说候选人已被录用（"你肯定被录用了"、"这个岗位就是你的了"）',
    terms: ['是我们的人了', '自己人了', '提前欢迎你'],
    patterns: [
      '(?:肯定|一定|绝对|百分百|百分之百|100%|铁定|必然|保证|保准|包|稳)(?:会|能|可以)?(?:被)?(?:录用|录取|入职|通过|过|拿到offer|拿offer|发offer|发你offer|给你发offer|要你|签你)',
      '(?:你|您)(?:已经)?(?:被)?(?:录用|录取)了',
      '(?:你|您)已经(?:过了|通过了)',
      `恭喜${P}{0,6}(?:录用|录取|入职|拿到offer|加入)`,
      `(?:岗位|位置|职位|这个坑|offer|名额)${P}{0,3}(?:就是|肯定是|非)?你的`,
      '就当(?:已经)?入职',
      '(?:录用|录取|offer|入职)(?:是|那是)?(?:肯定|一定|板上钉钉)的',
    ],
    guards: RECRUITER_PROMISE,
    enabled: true,
  },
  {
    id: 'ovp.certain',
    type: 'over_promise',
    version: 1,
    description: '招聘方在审批前担保结果（"offer没问题"、"稳了"、"板上钉钉"、"老板已经点头了"）',
    terms: [
      '板上钉钉',
      '铁板钉钉',
      '十拿九稳',
      '稳了',
      '稳稳的',
      '妥妥的',
      '包在我身上',
      '没跑了',
      '跑不了',
      '错不了',
      '稳操胜券',
    ],
    patterns: [
      `(?:offer|录用|录取|入职|这事|这个事|结果|审批|流程)${P}{0,4}(?:没问题|不会有问题|没啥问题|妥了|定了|搞定了)`,
      '(?:肯定|绝对|一定|保证)(?:是)?没(?:有)?(?:啥)?问题',
      `(?:老板|领导|总监|boss|部门|用人部门|面试官)${P}{0,6}(?:已经|都)(?:点头|同意|拍板|认可|签字|批了|打过招呼)`,
      `(?:老板|领导|总监|boss)${P}{0,4}(?:点头|拍板|签字)了`,
      `(?:老板|领导|总监)那边我${P}{0,4}打过招呼`,
      '基本(?:上)?(?:定了|稳了|没问题|就是你)',
      'guarantee',
    ],
    guards: RECRUITER_PROMISE,
    enabled: true,
  },
  {
    id: 'ovp.formality',
    type: 'over_promise',
    version: 1,
    description: '招聘方说审批、签字只是走形式（"就差走个流程"、"签字只是形式"）',
    terms: ['走个过场'],
    patterns: [`(?:只是|就是|就差|只差|不过是|只不过)${P}{0,3}(?:走个?|走一下)?(?:流程|形式|手续)`],
    guards: RECRUITER_PROMISE,
    enabled: true,
  },
  {
    id: 'ovp.resign_now',
    type: 'over_promise',
    version: 1,
    description: '招聘方在审批前叫候选人先辞职（"可以先辞职"、"直接提离职就行"、"放心辞"）',
    terms: [],
    patterns: [
      // The gap is only what such a sentence puts there (去, 把工作, 跟现在的公司…), so "先确认一下你的辞职时间" is not one.
      `(?:可以|先|直接|赶紧|放心|尽管|马上|现在就|抓紧|放心大胆)(?:地|的)?(?:去|把工作|把离职|(?:跟|和|向)${P}{0,8})?(?:提离职|提出离职|辞职|辞了|辞掉|离职|办离职|交辞职|递辞职|辞|办了)`,
    ],
    guards: RECRUITER_PROMISE,
    enabled: true,
  },
  {
    id: 'ovp.start_date',
    type: 'over_promise',
    version: 1,
    description: '招聘方在审批前定下入职日期（"下周一直接来上班"、"下个月1号入职"）',
    terms: [],
    patterns: [
      // 上班 only with 来 ("来上班": the candidate comes), so "我周一上班了再回你" is not one.
      `(?:下周[一二三四五]?|下个?礼拜[一二三四五]?|下个?月${P}{0,4}|明天|后天|周[一二三四五]|[0-9一二三四五六七八九十]{1,3}号)${P}{0,4}(?:(?:直接|就|可以)?(?:来|过来)(?:上班|报到|报道|入职)|(?:直接|就|可以)?(?:报到|报道|入职))`,
    ],
    guards: RECRUITER_PROMISE,
    enabled: true,
  },
  {
    id: 'ovp.terms',
    type: 'over_promise',
    version: 1,
    description: '招聘方在审批前许诺薪资、年终、期权等条件（"薪资就按你说的定了"、"年终肯定给你4个月"）',
    terms: [],
    patterns: [
      `(?:薪资|薪水|工资|月薪|年薪|base|package|期权|股票|年终|年终奖|奖金|签字费|涨薪|职级|title)${P}{0,8}(?:就按|定了|肯定|一定|保证|没问题|争取到了|给到|包你)`,
      '(?:保证|担保|承诺)(?:给你|你能|你会|你的)',
      '(?:肯定|一定|绝对)(?:会)?给你',
      `offer${P}{0,3}(?:马上|很快|这两天|明天|今天)(?:就)?(?:发|到|下来)`,
    ],
    guards: RECRUITER_PROMISE,
    enabled: true,
  },
];
