// The classroom panels between an instructor (studio) and two students
// (classroom), each in a context of their own: lobby, chat with a reply, a
// mention and a delete, hands in raise order, a poll; no console errors;
// axe on both pages; screenshots of both pages' panels.
//   node room.mjs --base URL --session ID --instructor JWT --s1 JWT --s2 JWT
import {
  assertAccessible,
  assertNoConsoleErrors,
  emit,
  eventually,
  flags,
  person,
  run,
  screenshot,
  TABLET,
  DESKTOP,
} from './lib.mjs';

const { base, session, instructor, s1: s1Token, s2: s2Token } = flags();

const tab = (who, name) => who.page.getByRole('tab', { name: new RegExp(`^${name}`) });
const chatLog = (who) => who.page.getByRole('list', { name: 'Chat messages' });
const lobbyWait = (who) => who.page.getByRole('heading', { name: /^Waiting for .* to let you in$/ });
const message = (who, text) => chatLog(who).locator('li.msg', { hasText: text });

async function say(who, text) {
  const box = who.page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await message(who, text).waitFor();
}

run(async (browser) => {
  const teacher = await person(browser, 'instructor');
  const s1 = await person(browser, 's1');
  const s2 = await person(browser, 's2');

  // The studio, the lobby on.
  await teacher.page.goto(`${base}/studio/${session}#token=${instructor}`);
  await tab(teacher, 'People').click();
  const lobby = teacher.page.getByRole('switch', { name: /Lobby/ });
  await lobby.check();
  await teacher.page.getByText('Lobby on').waitFor();
  emit({ event: 'lobby', enabled: true });

  // Both students wait.
  for (const [who, token] of [[s1, s1Token], [s2, s2Token]]) {
    await who.page.goto(`${base}/class/${session}#token=${token}`);
    await lobbyWait(who).waitFor();
  }
  await teacher.page.getByRole('button', { name: 'Admit s1' }).waitFor();
  await teacher.page.getByRole('button', { name: 'Admit s2' }).waitFor();
  // The People tab counts who waits.
  await eventually('the lobby count on the People tab', async () => /2 waiting/.test(await tab(teacher, 'People').textContent()));

  // Admit one, then all.
  await teacher.page.getByRole('button', { name: 'Admit s1' }).click();
  await tab(s1, 'Chat').waitFor();
  if (!(await lobbyWait(s2).isVisible())) throw new Error('s2 left the lobby with s1');
  await teacher.page.getByRole('button', { name: /^Admit all/ }).click();
  await tab(s2, 'Chat').waitFor();
  await teacher.page.getByText('Nobody is waiting.').waitFor();
  await teacher.page.locator('.people .person-name', { hasText: 's2' }).waitFor();
  emit({ event: 'admitted' });

  // Chat both ways, with a reply and a mention (picked from the suggestions).
  await tab(teacher, 'Chat').click();
  await say(teacher, 'Welcome, everyone!');
  await message(s1, 'Welcome, everyone!').waitFor();
  await message(s1, 'Welcome, everyone!').getByRole('button', { name: 'Reply to teacher' }).click();
  const box = s1.page.getByRole('textbox', { name: 'Message' });
  await box.pressSequentially('Thanks! @s');
  await s1.page.getByRole('option', { name: 's2' }).waitFor();
  await box.press('Enter');
  await eventually('the picked mention', async () => (await box.inputValue()) === 'Thanks! @s2 ');
  await box.pressSequentially('do you see this?');
  await box.press('Enter');
  const reply = 'Thanks! @s2 do you see this?';
  for (const who of [teacher, s1, s2]) await message(who, reply).waitFor();
  // The reply quotes the instructor's message.
  await message(teacher, reply).locator('blockquote', { hasText: 'Welcome, everyone!' }).waitFor();
  // s2 is mentioned: highlighted, and said in words.
  const mentioned = message(s2, reply);
  await mentioned.getByText('Mentions you').waitFor();
  if (!(await mentioned.evaluate((el) => el.classList.contains('msg-mention')))) throw new Error('the mention is not highlighted');
  if (await message(s1, reply).getByText('Mentions you').count()) throw new Error('s1 sees a mention of s2 as theirs');
  await tab(s2, 'Chat').click();
  await say(s2, 'Yes, loud and clear.');
  await message(teacher, 'Yes, loud and clear.').waitFor();
  // A reaction from the teacher, counted for everyone.
  await message(teacher, reply).getByRole('button', { name: 'Add reaction' }).click();
  await teacher.page.getByRole('button', { name: 'React with 👍' }).click();
  await message(s1, reply).getByRole('button', { name: /👍 1, from teacher/ }).waitFor();
  emit({ event: 'chat' });

  // Delete: gone for everyone.
  await say(s2, 'off-topic link');
  await message(teacher, 'off-topic link').getByRole('button', { name: /^Delete/ }).click();
  for (const who of [teacher, s1, s2]) {
    await eventually(`the deleted message gone for ${who.name}`, async () => (await message(who, 'off-topic link').count()) === 0);
  }
  if (await message(s1, 'Welcome').getByRole('button', { name: /^Delete/ }).count()) throw new Error('a student can delete');
  emit({ event: 'deleted' });

  // Hands: s2 first, then s1; the queue in that order on the studio.
  await tab(s2, 'Hands').click();
  await s2.page.getByRole('button', { name: 'Raise hand' }).click();
  await s2.page.getByText('1st in line').waitFor();
  await tab(s1, 'Hands').click();
  await s1.page.getByRole('button', { name: 'Raise hand' }).click();
  await s1.page.getByText('2nd in line').waitFor();
  await tab(teacher, 'Hands').click();
  const queue = teacher.page.getByRole('list', { name: /Hand queue/ }).locator('.hand-name');
  await eventually('the hand queue in raise order', async () => (await queue.allTextContents()).join(',') === 's2,s1');
  await teacher.page.getByRole('button', { name: 'Call on stage s2' }).click();
  await eventually('s2 off the queue', async () => (await queue.allTextContents()).join(',') === 's1');
  await teacher.page.getByRole('button', { name: 'Demote s2' }).waitFor();
  await s2.page.getByRole('heading', { name: 'On stage' }).waitFor();
  emit({ event: 'hands' });

  // A poll: created by the teacher, answered by both, 50 % / 50 %.
  await tab(teacher, 'Polls').click();
  await teacher.page.getByRole('button', { name: 'Create a poll' }).click();
  await teacher.page.getByLabel('Question').fill('Is merge sort stable?');
  await teacher.page.getByLabel('Option 1').fill('Yes');
  await teacher.page.getByLabel('Option 2').fill('No');
  await teacher.page.getByRole('button', { name: 'Launch poll' }).click();
  for (const [who, choice] of [[s1, 'Yes'], [s2, 'No']]) {
    await tab(who, 'Polls').click();
    const poll = who.page.getByRole('listitem', { name: 'Poll: Is merge sort stable?' });
    await poll.getByRole('radio', { name: choice }).check();
    await poll.getByRole('button', { name: /^Submit/ }).click();
    await poll.getByText('Thanks, your answer was sent.').waitFor();
    if (await who.page.getByRole('button', { name: 'Create a poll' }).count()) throw new Error(`${who.name} can create polls`);
    if (await who.page.getByRole('button', { name: /^Close poll/ }).count()) throw new Error(`${who.name} can close polls`);
  }
  const results = teacher.page.getByRole('list', { name: 'Results: Is merge sort stable?' });
  await eventually('50% / 50% with 2 respondents', async () => {
    const values = await results.locator('.bar-value').allTextContents();
    const respondents = await teacher.page.getByText('2 respondents').count();
    return values.map((v) => v.replace(/\s+/g, ' ').trim()).join('|') === '50% (1)|50% (1)' && respondents === 1;
  });
  // Shared results: the students see the same.
  await eventually('s1 sees the shared results', async () =>
    (await s1.page.getByRole('list', { name: 'Results: Is merge sort stable?' }).locator('.bar-value').allTextContents()).length === 2);
  emit({ event: 'poll' });

  // Pages as people see them.
  await assertAccessible(teacher.page, 'studio');
  await assertAccessible(s1.page, 'classroom');
  await tab(teacher, 'Chat').click();
  await tab(s2, 'Chat').click();
  for (const viewport of [DESKTOP, TABLET]) {
    await teacher.page.setViewportSize(viewport);
    await s2.page.setViewportSize(viewport);
    for (const who of [teacher, s2]) await who.page.mouse.move(0, 0);
    await screenshot(teacher.page, 'studio-panels');
    await screenshot(s2.page, 'classroom-panels');
  }
  // Remove s1, with a reason they read; the others see them go.
  await tab(teacher, 'People').click();
  await teacher.page.getByRole('button', { name: 'Actions for s1' }).click();
  await teacher.page.getByRole('button', { name: 'Remove… s1' }).click();
  await teacher.page.getByLabel(/Reason/).fill('Please keep the chat on topic.');
  await teacher.page.getByRole('button', { name: 'Remove s1' }).click();
  await s1.page.getByRole('heading', { name: 'You were removed from this class' }).waitFor();
  await s1.page.getByText('Your instructor wrote: “Please keep the chat on topic.”').waitFor();
  await eventually('s1 gone from the studio', async () => (await teacher.page.locator('.people .person-name', { hasText: 's1' }).count()) === 0);
  emit({ event: 'kicked' });

  // REVIEW_DIR: every tab of both pages, for a person to look at.
  if (process.env.REVIEW_DIR) {
    for (const who of [teacher, s2]) {
      for (const name of ['People', 'Chat', 'Hands', 'Polls']) {
        await tab(who, name).click();
        await who.page.screenshot({ path: `${process.env.REVIEW_DIR}/${who.name}-${name}-${who.page.viewportSize().width}.png` });
      }
    }
  }
  for (const who of [teacher, s1, s2]) assertNoConsoleErrors(who);
});
