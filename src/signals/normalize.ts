/**
 * What the rules see: a message folded to one spelling, **the same length as the original in UTF-16
 * code units**, so a match at [start, end) in the folded text is the same span of what the person
 * wrote (a hit quotes `text.slice(start, end)` of the original).
 *
 * Folding, character for character:
 * - traditional to simplified for the characters recruiting chat uses (離職 → 离职, 考慮 → 考虑);
 * - full-width ASCII to half-width (？→?, ｏｆｆｅｒ → offer), the ideographic space to a space;
 * - ASCII letters to lower case (Offer, OFFER → offer);
 * - a few two-character misspellings that pinyin input and voice-to-text make in exactly these words
 *   (考滤 → 考虑, 里职 → 离职): each replaced by a word of the same length.
 * Nothing is removed or inserted (no space stripping): rules allow for spaces themselves.
 */

/** Pairs, traditional then simplified. Characters that are the same in both are not listed. */
const TRADITIONAL_PAIRS =
  '離离職职辭辞慮虑資资還还沒没間间錄录録录週周來来這这邊边經经決决議议價价談谈會会給给發发問问題题說说請请闆板' +
  '為为們们過过對对後后與与幾几時时個个麼么嗎吗準准備备確确猶犹糾纠結结聽听裡里從从機机實实際际將将辦办報报簽签' +
  '穩稳證证開开應应該该讓让歸归聯联單单業业務务員员數数點点擔担憂忧難难態态當当處处現现見见長长領领導导層层內内' +
  '費费額额獎奖勵励權权選选擇择條条環环氣气試试筆笔錢钱買买賣卖頭头電电話话號号碼码車车遠远區区樓楼專专門门體体' +
  '檢检驗验項项據据讀读書书學学歷历認认識识謝谢讚赞擊击網网絡络繫系統统計计劃划總总監监節节錯错漲涨減减鬆松適适' +
  '舊旧產产團团隊队負负責责崗岗訊讯傳传遞递寫写銷销師师壓压獲获億亿萬万貨货幣币斷断續续繼继剛刚輩辈餘余預预優优' +
  '勢势習习慣惯爭争約约訂订擬拟審审覺觉鐘钟愛爱媽妈爺爷戰战頓顿彈弹樣样狀状況况啓启啟启卻却雖虽並并僅仅無无別别' +
  '細细緊紧張张幫帮聲声遲迟訴诉語语謹谨衝冲動动絕绝鐵铁釘钉虧亏齊齐馬马義义誰谁熱热級级積积極极國国場场關关係系' +
  '構构稱称標标競竞廣广東东輕轻寬宽嚴严謀谋記记聞闻親亲婦妇兒儿孫孙夥伙趕赶隨随換换異异變变帶带視视頻频賬账薦荐' +
  '顧顾慮虑賴赖靠靠貼贴補补償偿險险養养薪薪資资漢汉鄉乡庫库遺遗憾憾盡尽懂懂瞭了辛辛覆复復复臺台灣湾幹干乾干兩两倆俩麵面歲岁聯联隻只週周裏里麼么於于絲丝陸陆鎮镇縣县談谈'.replace(
    /\s/g,
    '',
  );

/** Every UTF-16 code unit's folded form (128 KiB, built once): one array read per character. */
const FOLD = new Uint16Array(0x10000);
for (let c = 0; c < 0x10000; c++) FOLD[c] = c;
for (let c = 0x41; c <= 0x5a; c++) FOLD[c] = c + 32;
for (let c = 0xff01; c <= 0xff5e; c++) {
  const d = c - 0xfee0;
  FOLD[c] = d >= 0x41 && d <= 0x5a ? d + 32 : d;
}
FOLD[0x3000] = 0x20;
/** Traditional to simplified only (for patterns, whose ASCII must stay as written). */
const SIMPLIFY = new Uint16Array(0x10000);
for (let c = 0; c < 0x10000; c++) SIMPLIFY[c] = c;
for (let i = 0; i + 1 < TRADITIONAL_PAIRS.length; i += 2) {
  const from = TRADITIONAL_PAIRS.charCodeAt(i);
  const to = TRADITIONAL_PAIRS.charCodeAt(i + 1);
  FOLD[from] = to;
  SIMPLIFY[from] = to;
}

function mapUnits(text: string, table: Uint16Array): string {
  let i = 0;
  while (i < text.length && table[text.charCodeAt(i)] === text.charCodeAt(i)) i++;
  if (i === text.length) return text;
  // String.fromCharCode takes its units as arguments (apply on a plain array is the fast way; a lone
  // surrogate stays as it is): in chunks, well below the engines' argument limits.
  let s = '';
  for (let from = 0; from < text.length; from += 8192) {
    const to = Math.min(text.length, from + 8192);
    const units: number[] = new Array<number>(to - from);
    for (let j = from; j < to; j++) units[j - from] = table[text.charCodeAt(j)] as number;
    s += String.fromCharCode.apply(null, units);
  }
  return s;
}

/** Misspellings of the words the rules look for, each the same length as its correction. */
export const MISSPELLINGS: ReadonlyArray<readonly [string, string]> = [
  ['考滤', '考虑'],
  ['考绿', '考虑'],
  ['犹预', '犹豫'],
  ['尤豫', '犹豫'],
  ['犹与', '犹豫'],
  ['纠节', '纠结'],
  ['商良', '商量'],
  ['里职', '离职'],
  ['离值', '离职'],
  ['离织', '离职'],
  ['辞值', '辞职'],
  ['词职', '辞职'],
  ['瓷职', '辞职'],
  ['入值', '入职'],
  ['录区', '录取'],
  ['路用', '录用'],
];

const MISSPELLING_SOURCE = MISSPELLINGS.map(([wrong]) => wrong).join('|');
const MISSPELLING = new RegExp(MISSPELLING_SOURCE, 'g');
const HAS_MISSPELLING = new RegExp(MISSPELLING_SOURCE);
const CORRECTION = new Map(MISSPELLINGS);

/** The folded form of `text`, of the same length (see above). */
export function normalize(text: string): string {
  const folded = mapUnits(text, FOLD);
  return HAS_MISSPELLING.test(folded) ? folded.replace(MISSPELLING, (w) => CORRECTION.get(w) ?? w) : folded;
}

/** Traditional to simplified only: for a rule's own patterns (regular expressions keep their ASCII as written). */
export function simplify(text: string): string {
  return mapUnits(text, SIMPLIFY);
}
