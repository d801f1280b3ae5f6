import { feedbackLink } from '../../src/modules';

/** The one-week feedback reminder links to the form HR configured (FEEDBACK_FORM_URL), naming the offer. */
describe('feedback form link', () => {
  test('the offer is added to the query, keeping what the form URL already has', () => {
    expect(feedbackLink('https://wj.qq.com/s2/123456/abcd/', 'of_1')).toBe('https://wj.qq.com/s2/123456/abcd/?offer=of_1');
    expect(feedbackLink('https://forms.example.com/f?lang=zh', 'of_2')).toBe('https://forms.example.com/f?lang=zh&offer=of_2');
    // An offer id that is already there is replaced, never doubled.
    expect(feedbackLink('https://forms.example.com/f?offer=old', 'of_3')).toBe('https://forms.example.com/f?offer=of_3');
  });
});
