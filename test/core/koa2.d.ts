// The Koa 2 alias package ships no types; it has Koa's shape, which is all these tests need.
declare module "koa2" {
  import Koa from "koa";
  export default Koa;
}
