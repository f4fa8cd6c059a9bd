import {readFile} from 'node:fs/promises'
import {BaseCommand} from '../../base-command.js'
import {EXAMPLE_FILE} from '../../policy.js'

export default class PolicyExample extends BaseCommand<typeof PolicyExample> {
  static override summary = 'Print a commented starting policy (gwlb policy check accepts it)'
  static override description = 'Default deny; DNS to the VPC resolver, ping, and web to anywhere allowed; the instance metadata address denied. Edit it, check it, then give it to `gwlb appliance run --policy` or `gwlb lab policy push`.'
  static override examples = ['<%= config.bin %> <%= command.id %> > policy.yaml']
  static override enableJsonFlag = false

  async run(): Promise<void> {
    process.stdout.write(await readFile(EXAMPLE_FILE, 'utf8'))
  }
}
