//! `tools::pager`: listing a collection page by page (client-go `tools/pager.ListPager`).
//!
//! [`ListPager`] sends a LIST with `limit`, follows the `continue` token of each page
//! until the last one, and hands each page to a callback as it is decoded
//! ([`ListPager::each_page`]: a consumer such as the reflector can shrink each page, e.g.
//! drop managedFields, before the next one arrives), or returns the pages
//! ([`ListPager::pages`]) or one merged list ([`ListPager::list`]), or yields them as a
//! [`PageStream`] ([`ListPager::stream`], what the clients' `list_pages` return). Like client-go's
//! pager it falls back to one full list when a continue token has expired (410 Gone)
//! and [`ListPager::full_list_if_expired`] is set.
//!
//! Pages overlap: as soon as a page's body has arrived and its first, validating pass
//! has read the continue token ([`ScannedList`]), the request for the next page is
//! started on its own task, so the server works on page *n+1* and its bytes travel while
//! this task decodes page *n* (on several threads when it is large). A page therefore
//! costs about the larger of "server + transfer" and "decode" instead of their sum. At
//! most one page is fetched ahead, so memory stays bounded by two pages' bodies.
//!
//! The reflector's initial list uses [`ListPager::each_page`].

use std::marker::PhantomData;

use bytes::Bytes;
use futures_util::Stream;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;

use crate::rest::errors::BodyError;
use crate::rest::list_decode::{decode_list_bytes, ItemList, ScannedList};
use crate::rest::{Error, ListOptions, Request, RequestInfo};

/// client-go's default page size (`pager.defaultPageSize`).
pub const DEFAULT_PAGE_SIZE: i64 = 500;

/// Lists in pages (client-go `pager.ListPager`).
#[derive(Clone, Debug)]
pub struct ListPager {
    /// Objects per page (`limit`); used when the options given to [`pages`](Self::pages)
    /// have no limit of their own.
    pub page_size: i64,
    /// When a continue token has expired (410 Gone), list everything again in one
    /// request instead of failing (client-go `FullListIfExpired`, default true).
    pub full_list_if_expired: bool,
}

impl Default for ListPager {
    fn default() -> Self {
        ListPager { page_size: DEFAULT_PAGE_SIZE, full_list_if_expired: true }
    }
}

/// What [`ListPager::each_page`] hands its callback.
#[derive(Debug)]
pub enum PageEvent<L> {
    /// The next page, in order.
    Page(L),
    /// A continue token expired part-way (410 Gone) and
    /// [`full_list_if_expired`](ListPager::full_list_if_expired) is set: the pages
    /// handed so far are void, and one full list follows as the next `Page`.
    Restart,
}

/// A page request started on its own task; dropping it aborts the request.
struct Fetch {
    task: tokio::task::JoinHandle<Result<(Bytes, RequestInfo), Error>>,
    /// Names the request if the task itself fails.
    info: RequestInfo,
}

impl Fetch {
    fn start(request: Request) -> Self {
        let info = RequestInfo::new(&http::Method::GET, &request.url());
        let task = tokio::spawn(async move {
            let response = request.send().await?;
            let info = response.request().clone();
            Ok((response.into_bytes().await?, info))
        });
        Fetch { task, info }
    }

    async fn body(mut self) -> Result<(Bytes, RequestInfo), Error> {
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(Error::Body { request: self.info.clone(), source: BodyError::Task(join) }),
        }
    }
}

impl Drop for Fetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ListPager {
    /// A pager with `page_size` objects per page.
    pub fn new(page_size: i64) -> Self {
        ListPager { page_size, ..Default::default() }
    }

    /// Lists every page of `L` (e.g. `k8s_openapi::List<Pod>`). `request` builds the
    /// LIST request for the given options (selectors, resourceVersion, `limit` and
    /// `continue` set by the pager), e.g.
    /// `|o| client.get().namespace("default").resource("pods").versioned_params(o)`.
    pub async fn pages<L, F>(&self, options: &ListOptions, request: F) -> Result<Vec<L>, Error>
    where
        L: ItemList,
        F: Fn(&ListOptions) -> Request,
    {
        let mut pages = Vec::new();
        self.each_page(options, request, |event| match event {
            PageEvent::Page(page) => pages.push(page),
            PageEvent::Restart => pages.clear(),
        })
        .await?;
        Ok(pages)
    }

    /// Lists every page of `L`, handing each to `on_page` as soon as it is decoded
    /// (while the next page is on its way), so only one decoded page need be held at a
    /// time. `request` is as for [`pages`](Self::pages).
    pub async fn each_page<L, F, G>(&self, options: &ListOptions, request: F, mut on_page: G) -> Result<(), Error>
    where
        L: ItemList,
        F: Fn(&ListOptions) -> Request,
        G: FnMut(PageEvent<L>),
    {
        let mut pages = Pages::<L, _>::new(self, options, &request);
        let mut delivered = false;
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => {
                    on_page(PageEvent::Page(page));
                    delivered = true;
                }
                Err(e) if e.is_gone() && pages.continuing() && self.full_list_if_expired => {
                    tracing::debug!("continue token expired (410 Gone): listing everything in one request");
                    let full = ListOptions { limit: None, continue_token: None, ..options.clone() };
                    let list = request(&full).into_list().await?;
                    if delivered {
                        on_page(PageEvent::Restart);
                    }
                    on_page(PageEvent::Page(list));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The pages of `L` as a [`Stream`], each decoded while the next one is on its way
    /// (as [`each_page`](Self::each_page)); `request` is as for [`pages`](Self::pages),
    /// but owned. Nothing is sent before the stream is first polled; dropping it cancels
    /// the page being fetched.
    ///
    /// A stream cannot take back pages it has yielded, so
    /// [`full_list_if_expired`](Self::full_list_if_expired) does not apply: when a
    /// continue token expires part-way, the stream yields the server's 410 error
    /// ([`Error::is_resource_expired`]; [`Error::is_gone`] for either form) and ends;
    /// list again from the start. Any error ends the stream.
    pub fn stream<L, F>(&self, options: &ListOptions, request: F) -> PageStream<L>
    where
        L: ItemList + Send + 'static,
        F: Fn(&ListOptions) -> Request + Send + 'static,
    {
        let pages = Pages::<L, F>::new(self, options, request);
        let inner = futures_util::stream::unfold(pages, |mut pages| async move {
            let page = pages.next().await?;
            Some((page, pages))
        });
        PageStream { inner: Box::pin(inner) }
    }

    /// Lists every page and merges them into one list: all items in order, the first
    /// page's metadata (its resourceVersion) with no continue token, as client-go's
    /// `ListPager.List` returns.
    pub async fn list<K, F>(&self, options: &ListOptions, request: F) -> Result<k8s_openapi::List<K>, Error>
    where
        K: k8s_openapi::ListableResource + serde::de::DeserializeOwned + Send,
        F: Fn(&ListOptions) -> Request,
    {
        let mut pages = self.pages::<k8s_openapi::List<K>, F>(options, request).await?.into_iter();
        let mut merged =
            pages.next().unwrap_or_else(|| k8s_openapi::List { items: Vec::new(), metadata: ListMeta::default() });
        for page in pages {
            merged.items.extend(page.items);
        }
        merged.metadata.continue_ = None;
        merged.metadata.remaining_item_count = None;
        Ok(merged)
    }
}

/// The page loop shared by [`ListPager::each_page`] and [`ListPager::stream`]: fetches
/// the first page when first asked, and the next one as soon as a page's continue
/// token is read, before its items are decoded.
struct Pages<L, F> {
    /// The options of the request in flight (or of the first one, before it starts).
    opts: ListOptions,
    /// `None` before the first request and after the last page or an error.
    next: Option<Fetch>,
    started: bool,
    request: F,
    _list: PhantomData<fn() -> L>,
}

impl<L: ItemList, F: Fn(&ListOptions) -> Request> Pages<L, F> {
    fn new(pager: &ListPager, options: &ListOptions, request: F) -> Self {
        let mut opts = options.clone();
        if opts.limit.is_none() && pager.page_size > 0 {
            opts.limit = Some(pager.page_size);
        }
        Pages { opts, next: None, started: false, request, _list: PhantomData }
    }

    /// Whether the request in flight (or the one that just failed) carried a continue
    /// token, so a 410 means that token expired.
    fn continuing(&self) -> bool {
        self.opts.continue_token.is_some()
    }

    /// The next page; `None` after the last one. After an error there are no more.
    async fn next(&mut self) -> Option<Result<L, Error>> {
        if !self.started {
            self.started = true;
            self.next = Some(Fetch::start((self.request)(&self.opts)));
        }
        let fetch = self.next.take()?;
        let page = self.decode_and_prefetch(fetch).await;
        if page.is_err() {
            // Stop any page already requested: the sequence is broken.
            self.next = None;
        }
        Some(page)
    }

    async fn decode_and_prefetch(&mut self, fetch: Fetch) -> Result<L, Error> {
        let (body, info) = fetch.body().await?;
        if body.starts_with(ferrokube_apimachinery::protobuf::MAGIC) {
            // A protobuf page (a typed client asked for it): its envelope and items are
            // decoded apart, the items on several threads.
            let page = crate::rest::list_decode::decode_protobuf_list::<L>(&body).map_err(|source| {
                Error::DecodeProtobuf { request: info.clone(), target: std::any::type_name::<L>(), source }
            })?;
            self.prefetch(page.continue_token());
            return Ok(page);
        }
        let decode_error = |source| Error::Decode { request: info.clone(), target: std::any::type_name::<L>(), source };
        let scanned = std::str::from_utf8(&body).ok().and_then(ScannedList::<L>::scan);
        match scanned {
            Some(scanned) => {
                self.prefetch(scanned.continue_token());
                match scanned.decode(crate::parallel::threads_for(body.len())) {
                    Some(page) => Ok(page),
                    // An item failed: the reference decode names the error.
                    None => decode_list_bytes::<L>(&body).map_err(decode_error),
                }
            }
            None => {
                let page = decode_list_bytes::<L>(&body).map_err(decode_error)?;
                self.prefetch(page.continue_token());
                Ok(page)
            }
        }
    }

    /// Starts the request for the page after one whose continue token is `token`.
    fn prefetch(&mut self, token: Option<&str>) {
        let Some(token) = token.filter(|t| !t.is_empty()) else { return };
        self.opts.continue_token = Some(token.to_owned());
        // Later pages come from the snapshot the token names.
        self.opts.resource_version = None;
        self.opts.resource_version_match = None;
        self.next = Some(Fetch::start((self.request)(&self.opts)));
    }
}

/// The pages of a LIST, in order (from [`ListPager::stream`] or a client's
/// `list_pages`). Each item is one page (`k8s_openapi::List<K>` for typed clients);
/// an error ends the stream. [`try_next`](Self::try_next) walks it.
#[must_use = "streams do nothing unless polled"]
pub struct PageStream<L> {
    inner: std::pin::Pin<Box<dyn Stream<Item = Result<L, Error>> + Send>>,
}

impl<L> std::fmt::Debug for PageStream<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageStream").field("page", &std::any::type_name::<L>()).finish_non_exhaustive()
    }
}

impl<L> PageStream<L> {
    /// The next page, `Ok(None)` after the last one (the same as
    /// `futures_util::TryStreamExt::try_next`, without importing the trait).
    pub async fn try_next(&mut self) -> Result<Option<L>, Error> {
        futures_util::StreamExt::next(self).await.transpose()
    }
}

impl<L> Stream for PageStream<L> {
    type Item = Result<L, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
