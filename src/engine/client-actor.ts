import { evolve, initialAccount, type AccountEvent, type AccountState } from '../domain/account.js';

/** One client's account, changed only by applying accepted events through `evolve`. */
export class ClientActor {
  state: AccountState = initialAccount;
  constructor(readonly client: number) {}

  apply(event: AccountEvent): void {
    this.state = evolve(this.state, event);
  }
}
